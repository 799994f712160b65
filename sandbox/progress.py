"""Anonymous learners' progress, kept per session in the database."""

from django.http import HttpRequest

from sandbox.exercises import Exercise
from sandbox.grading import Grade
from sandbox.models import Progress

_SUBMITTED = "submitted_exercises"


def _session_key(request: HttpRequest) -> str:
    if request.session.session_key is None:
        request.session.save()
    return str(request.session.session_key)


def record(request: HttpRequest, exercise: Exercise, grade: Grade) -> Progress:
    entry, _ = Progress.objects.get_or_create(session_key=_session_key(request), exercise=exercise.slug)
    entry.attempts += 1
    entry.passed = entry.passed or grade.passed
    failure = grade.first_failure
    entry.last_failure = failure.name if failure else ""
    entry.save()
    submitted = set(request.session.get(_SUBMITTED, []))
    request.session[_SUBMITTED] = sorted(submitted | {exercise.slug})
    return entry


def has_submitted(request: HttpRequest, exercise: Exercise) -> bool:
    return exercise.slug in request.session.get(_SUBMITTED, [])


def for_session(request: HttpRequest) -> dict[str, Progress]:
    if request.session.session_key is None:
        return {}
    return {p.exercise: p for p in Progress.objects.filter(session_key=request.session.session_key)}
