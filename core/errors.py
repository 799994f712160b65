"""The site's error answers: branded pages for people, JSON for the JSON API.

A request for ``/api/...`` (or one that sends JSON) gets ``{"error": "..."}``
with the status; anyone else gets a page of the site's own. The CSRF failure
view answers the same way, so a script posting to ``/api/run`` without a token
reads why in JSON, not in an HTML page.
"""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.template import loader

MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have access to this page.",
    404: "There is no page at this address.",
    405: "This address answers a form or a button on its page, not a visit: go back to the page and use it there.",
    500: "Something went wrong on our side; it has been logged.",
}


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or request.content_type == "application/json"


def _answer(request: HttpRequest, status: int, detail: str = "") -> HttpResponse:
    message = detail or MESSAGES[status]
    if wants_json(request):
        return JsonResponse({"error": message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def _detail(exception: Exception | None) -> str:
    # Only messages the site wrote itself (PermissionDenied("...") in a view); Http404's
    # default texts name internals (a model, a resolver) and stay out of the page.
    return (
        str(exception)
        if exception is not None and exception.args and isinstance(exception.args[0], str)
        else ""
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 403, _detail(exception))


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _answer(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without the request's context: whatever failed may fail again in it."""
    if wants_json(request):
        return JsonResponse({"error": MESSAGES[500]}, status=500)
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "", **kwargs: Any) -> HttpResponse:
    detail = (
        "The request has no valid CSRF token: send the csrftoken cookie's value in the X-CSRFToken header."
        if wants_json(request)
        else "This form has expired or was sent from another site. Go back, reload the page and try again."
    )
    return _answer(request, 403, detail)


class ErrorAnswersMiddleware:
    """Every error answer speaks the asker's language, even those no view wrote.

    Django's own 405 (``require_POST``) has an empty body: under ``/api/`` it becomes
    JSON (a plain-text answer too, keeping its words), keeping the status and headers
    such as Allow; for a person visiting a button's address it becomes the site's page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type", "").startswith("application/json"):
            return response
        if not wants_json(request):
            empty = not getattr(response, "content", b"x")
            if empty and response.status_code in MESSAGES:
                page = render(
                    request,
                    "error.html",
                    {"status": response.status_code, "message": MESSAGES[response.status_code]},
                    status=response.status_code,
                )
                if response.has_header("Allow"):
                    page["Allow"] = response["Allow"]
                return page
            return response
        text = getattr(response, "content", b"").decode(errors="replace").strip()
        plain = response.get("Content-Type", "").startswith("text/plain") and 0 < len(text) <= 300
        message = text if plain else MESSAGES.get(response.status_code, response.reason_phrase)
        if response.status_code == 405 and response.has_header("Allow"):
            message = f"{request.method} is not allowed here; use {response['Allow']}."
        answer = JsonResponse({"error": message}, status=response.status_code)
        for header in ("Allow", "Retry-After"):
            if response.has_header(header):
                answer[header] = response[header]
        return answer
