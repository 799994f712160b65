"""How strongly student code is isolated on this machine.

``bubblewrap`` when bwrap exists and can create the namespaces the worker needs;
``reduced`` otherwise (local use only: every page shows a banner, and production
refuses to start).
"""

import functools
import shutil
import subprocess

BWRAP_ARGS = ["--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--", "/bin/true"]


@functools.cache
def bwrap_path() -> str | None:
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        subprocess.run([path, *BWRAP_ARGS], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return path


def level() -> str:
    return "bubblewrap" if bwrap_path() else "reduced"
