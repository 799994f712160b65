"""Where a request's time goes: a ``Server-Timing`` header with the sandbox, database and templates.

``ServerTimingMiddleware`` times each request and answers, for example::

    Server-Timing: sandbox;dur=41.2, db;dur=1.8, template;dur=6.0, cpu;dur=9.7, total;dur=52.3

* ``sandbox``: wall time while at least one of the request's runs was in the
  sandbox (a grade's two runs overlap: their union counts once);
* ``db``: wall time in the app database's statements (the run's own statements are
  the sandbox's, not these);
* ``template``: wall time rendering templates (a lazy queryset evaluated while
  rendering counts in ``db`` too);
* ``cpu``: CPU time of the request's thread in this process, the sandbox's not included;
* ``total``: the whole request, as the middleware saw it.

Browsers show the header in their network panel; the load benchmark adds it up per
endpoint. It is on when ``settings.QUERYLAB_SERVER_TIMING`` is (by default only with
DEBUG: timings tell an outsider something about the server).
https://www.w3.org/TR/server-timing/
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.template.backends.django import DjangoTemplates

from sandbox import runner

KINDS = ("sandbox", "db", "template")


@dataclass
class Spans:
    """Intervals of ``time.perf_counter()`` by kind, for one request."""

    by_kind: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def add(self, kind: str, started: float, ended: float) -> None:
        self.by_kind[kind].append((started, ended))

    def ms(self, kind: str) -> float:
        """The length of the union of ``kind``'s intervals: overlapping ones count once."""
        total, reach = 0.0, float("-inf")
        for started, ended in sorted(self.by_kind[kind]):
            if ended <= reach:
                continue
            total += ended - max(started, reach)
            reach = ended
        return total * 1000


_current: ContextVar[Spans | None] = ContextVar("server_timing_spans", default=None)


@contextmanager
def spent(kind: str) -> Iterator[None]:
    """Count the block's wall time as ``kind`` in the current request, if one is being timed."""
    spans = _current.get()
    started = time.perf_counter()
    try:
        yield
    finally:
        if spans is not None:
            spans.add(kind, started, time.perf_counter())


def _on_run(sender: object, started: float, ended: float, **kwargs: Any) -> None:
    spans = _current.get()
    if spans is not None:
        spans.add("sandbox", started, ended)


runner.ran.connect(_on_run, dispatch_uid="core.timing")


def _database(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    with spent("db"):
        return execute(sql, params, many, context)


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.QUERYLAB_SERVER_TIMING:
            return self.get_response(request)
        spans = Spans()
        token = _current.set(spans)
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            with connections["default"].execute_wrapper(_database):
                response = self.get_response(request)
        finally:
            _current.reset(token)
        figures = {kind: spans.ms(kind) for kind in KINDS}
        figures["cpu"] = (time.thread_time() - cpu) * 1000
        figures["total"] = (time.perf_counter() - started) * 1000
        ours = ", ".join(f"{name};dur={ms:.1f}" for name, ms in figures.items())
        response["Server-Timing"] = ", ".join(filter(None, [ours, response.get("Server-Timing")]))
        return response


class _TimedTemplate:
    """A template whose rendering counts as ``template`` time."""

    def __init__(self, template: Any) -> None:
        self.template = template

    def render(self, context: Any = None, request: HttpRequest | None = None) -> Any:
        with spent("template"):
            return self.template.render(context, request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.template, name)


class TimedDjangoTemplates(DjangoTemplates):
    """Django's template backend, with each page's or fragment's rendering timed for ``Server-Timing``."""

    def get_template(self, template_name: str) -> Any:
        return _TimedTemplate(super().get_template(template_name))

    def from_string(self, template_code: str) -> Any:
        return _TimedTemplate(super().from_string(template_code))
