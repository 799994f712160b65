"""Per-client rate limits: runs and grades, attempts at the login page, sessions started.

Fixed windows counted in Django's cache. A client is its session when it has
one (a class behind one school address is many learners), else its address.
The cache is the database's ("counters" in settings.CACHES, a table of its own), one
count that every server process and node shares: a learner cannot multiply the limit by
landing on another node. There each increment is one atomic statement (core/cache.py),
and no counter ever culls what the shared cache keeps (lesson runs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.http import http_date

View = Callable[..., HttpResponseBase]


@dataclass(frozen=True)
class Limit:
    requests: int
    seconds: int


def limit_for(scope: str) -> Limit:
    requests, seconds = settings.QUERYLAB_RATE_LIMITS[scope]
    return Limit(int(requests), int(seconds))


def client(request: HttpRequest) -> str:
    session_key = request.session.session_key if hasattr(request, "session") else None
    return f"session:{session_key}" if session_key else f"address:{request.META.get('REMOTE_ADDR', '?')}"


def retry_after(request: HttpRequest, scope: str, cost: int = 1) -> int | None:
    """Count this request; seconds to wait when the client is over its limit, else None."""
    limit = limit_for(scope)
    now = time.time()
    window = int(now // limit.seconds)
    key = f"throttle:{scope}:{client(request)}:{window}"
    cache = caches["counters"]
    # The window's count most often exists: one increment (on the database cache, one
    # statement). The window's first request adds it; if another process added it first, this
    # one increments theirs.
    try:
        used = cache.incr(key, cost)
    except ValueError:
        used = cost if cache.add(key, cost, timeout=limit.seconds + 1) else cache.incr(key, cost)
    if used <= limit.requests:
        return None
    return max(1, math.ceil((window + 1) * limit.seconds - now))


def too_many(request: HttpRequest, seconds: int) -> HttpResponse:
    message = f"Too many requests; try again in {seconds} s."
    wants_json = request.content_type == "application/json" or request.path.startswith("/api/")
    response: HttpResponse = (
        JsonResponse({"error": message}, status=429) if wants_json else HttpResponse(message, status=429)
    )
    response["Retry-After"] = str(seconds)
    return response


def limited(scope: str, *, cost: int = 1) -> Callable[[View], View]:
    """Refuse a client over its ``scope`` limit with 429 and Retry-After (POST requests count)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method == "POST":
                seconds = retry_after(request, scope, cost)
                if seconds is not None:
                    return too_many(request, seconds)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def gives_session(view: View) -> View:
    """A page learners run code from starts their session if they have none.

    Their runs then count against their own limit from the first one, rather than
    against their address, which a whole class behind a school's router shares (a
    class of 200 opening the playground at once would otherwise share one address's
    runs until each learner's first grade). How many sessions one address may start
    is limited too ("sessions"); past it, the page is served and its runs count
    against the address.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        started = request.session.session_key is None and retry_after(request, "sessions") is None
        if started:
            request.session.save()  # in the view: a database away now is the view's 503
            request.session.modified = False  # saved: the middleware has nothing to write
        response = view(request, *args, **kwargs)
        if started and not request.session.modified:
            _send_session_cookie(request, response)
        return response

    return wrapped


def _send_session_cookie(request: HttpRequest, response: HttpResponseBase) -> None:
    """The cookie Django's session middleware sends for a session it saved, for one saved already.

    Marking the session modified instead would have the middleware write it a second time,
    after the view, where a database going away is answered 400 ("session interrupted").
    """
    session = request.session
    at_close = session.get_expire_at_browser_close()
    max_age = None if at_close else session.get_expiry_age()
    response.set_cookie(
        settings.SESSION_COOKIE_NAME,
        str(session.session_key),
        max_age=max_age,
        expires=None if max_age is None else http_date(time.time() + max_age),
        domain=settings.SESSION_COOKIE_DOMAIN,
        path=settings.SESSION_COOKIE_PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=settings.SESSION_COOKIE_HTTPONLY,
        samesite=settings.SESSION_COOKIE_SAMESITE,
    )
