import os
import signal

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SandboxConfig(AppConfig):
    name = "sandbox"

    def ready(self) -> None:
        from sandbox.worker import confine

        # Reduced isolation is for a laptop only: a production server never runs
        # learners' code without bubblewrap.
        if getattr(settings, "PRODUCTION", False) and confine.level() != "bubblewrap":
            raise ImproperlyConfigured(
                "DJANGO_ENV=production needs bubblewrap to isolate learners' code, and bwrap is "
                "missing or cannot create namespaces here. Install it (apt-get install bubblewrap)."
            )
        # The dev server serves from a child of its autoreloader. Should the reloader die
        # (kill -9 included), its child must too, and with it the sandbox worker it started.
        if os.environ.get("RUN_MAIN") == "true":
            confine.die_with_parent(signal.SIGTERM)
