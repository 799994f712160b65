from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from sandbox import runner


@pytest.fixture(scope="package", autouse=True)
def _a_private_sandbox_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """These tests start, overload and kill the worker: give them one of their own.

    The worker's socket lives under ``VAR_DIR/run`` and is named after the code
    version only, so another test session on the same checkout would share it
    (and stop it when it ends). A private ``VAR_DIR`` keeps the two apart.
    """
    var_dir = tmp_path_factory.mktemp("var")
    previous = runner._worker
    with override_settings(VAR_DIR=var_dir):
        runner._worker = None
        try:
            yield var_dir
        finally:
            if runner._worker is not None:
                runner._worker.stop()
            runner._worker = previous
