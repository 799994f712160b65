"""Answers for the moments the database is away, instead of a 500 page."""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("querylab")
RETRY_AFTER_SECONDS = 5
MESSAGE = "The database is unavailable right now; QueryLab will recover on its own. Retry in a moment."


class DatabaseOutageMiddleware:
    """A view that cannot reach the database answers 503 with Retry-After and says so.

    With ``conn_health_checks`` on, the next request after the outage reconnects:
    nodes recover without a restart.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable during %s: %s", request.path, exception)
        response: HttpResponse
        if request.path.startswith("/api/") or request.headers.get("Accept") == "application/json":
            response = JsonResponse({"error": MESSAGE}, status=503)
        else:
            response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
