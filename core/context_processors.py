from typing import Any

from django.http import HttpRequest

from sandbox.contract import LIMITS
from sandbox.worker import confine


def isolation_level(request: HttpRequest) -> dict[str, Any]:
    """How code is isolated here, and the limits it runs under, for every page."""
    return {"isolation": confine.level(), "limits": LIMITS}
