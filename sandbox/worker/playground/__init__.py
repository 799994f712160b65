"""The app a learner's own models belong to (``sandbox.worker.own_models``): it has none of its own."""
