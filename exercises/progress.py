"""Learners' progress and drafts: per account once signed in, else per anonymous session.

An anonymous learner is known by the key their session had when it first
needed one, kept in the session itself (``LEARNER``): Django gives the session
a new key at login, and the data, this key included, survives it. Signing up or
in adopts that learner's records into the account (``adopt``).
"""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from exercises.catalog import Exercise
from exercises.grading import Grade
from exercises.models import Progress

LEARNER = "learner"
# Submissions of different code, none of it the starter, after which the reference opens without a pass.
TRIES_FOR_SOLUTION = 3


def _learner_key(request: HttpRequest) -> str:
    key = request.session.get(LEARNER)
    if not key:
        if request.session.session_key is None:
            request.session.save()
        key = request.session[LEARNER] = str(request.session.session_key)
    return str(key)


def _records(request: HttpRequest) -> QuerySet[Progress]:
    if request.user.is_authenticated:
        return Progress.objects.filter(user=request.user)
    key = request.session.get(LEARNER) or request.session.session_key
    return Progress.objects.filter(user=None, session_key=key) if key else Progress.objects.none()


def _entry(request: HttpRequest, exercise: Exercise) -> Progress:
    """The learner's record on ``exercise``, created on first use."""
    key = _learner_key(request)
    if request.user.is_authenticated:
        lookup: dict[str, object] = {"user": request.user, "exercise": exercise.slug}
    else:
        lookup = {"user": None, "session_key": key, "exercise": exercise.slug}
    # A read when it exists (most submissions); get_or_create creates it in a savepoint of its
    # own and reads it back if another request of this learner created it at that moment.
    entry, _ = Progress.objects.get_or_create(**lookup, defaults={"session_key": key})
    return entry


def _normalized(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def record(request: HttpRequest, exercise: Exercise, grade: Grade, code: str) -> Progress:
    """A submission: one more attempt, the verdict, and the code as the learner's draft."""
    entry = _entry(request, exercise)
    entry.attempts += 1
    entry.passed = entry.passed or grade.passed
    failure = grade.first_failure
    entry.last_failure = failure.name if failure else ""
    entry.draft = code
    normalized = _normalized(code)
    digest = hashlib.sha256(normalized.encode()).hexdigest()[:16]
    if normalized != _normalized(exercise.starter) and digest not in entry.tried:
        entry.tried = [*entry.tried, digest]
    entry.save()
    return entry


def save_draft(request: HttpRequest, exercise: Exercise, code: str) -> None:
    """The learner's code as they left it; the starter (or nothing) clears the draft."""
    draft = "" if _normalized(code) in {"", _normalized(exercise.starter)} else code
    existing = _records(request).filter(exercise=exercise.slug).first()
    if existing is None and not draft:
        return
    entry = existing or _entry(request, exercise)
    if entry.draft != draft:
        entry.draft = draft
        entry.save(update_fields=["draft", "updated_at"])


def get(request: HttpRequest, exercise: Exercise) -> Progress | None:
    return _records(request).filter(exercise=exercise.slug).first()


def for_learner(request: HttpRequest) -> dict[str, Progress]:
    return {p.exercise: p for p in _records(request)}


def may_see_solution(entry: Progress | None) -> bool:
    """After a pass, or after ``TRIES_FOR_SOLUTION`` honest attempts: different code, none of it the starter."""
    return entry is not None and (entry.passed or len(entry.tried) >= TRIES_FOR_SOLUTION)


def adopt(request: HttpRequest, user: User) -> None:
    """Move the anonymous session's records to ``user``, merging with what the account has."""
    key = request.session.get(LEARNER)
    if not key:
        return
    with transaction.atomic():
        mine = {p.exercise: p for p in Progress.objects.select_for_update().filter(user=user)}
        for anonymous in Progress.objects.select_for_update().filter(user=None, session_key=key):
            kept = mine.get(anonymous.exercise)
            if kept is None:
                anonymous.user = user
                anonymous.save()
                continue
            newer = anonymous if anonymous.updated_at >= kept.updated_at else kept
            kept.attempts += anonymous.attempts
            kept.passed = kept.passed or anonymous.passed
            kept.tried = [*kept.tried, *(t for t in anonymous.tried if t not in kept.tried)]
            kept.draft = newer.draft or kept.draft or anonymous.draft
            kept.last_failure = "" if kept.passed else newer.last_failure
            anonymous.delete()
            kept.save()
