"""Exercises as the lesson pages show them: which practise a lesson, and how far a learner got.

Lessons know nothing of exercises (imports point down, and exercises sit above
lessons); their templates load these tags, so the lesson pages can list them.
"""

from typing import Any

from django import template

from exercises import catalog, progress

register = template.Library()


@register.simple_tag
def exercises_for(lesson_slug: str) -> list[catalog.Exercise]:
    """The exercises that practise the lesson ``lesson_slug``: each exercise names its lesson, once."""
    return catalog.for_lesson(lesson_slug)


@register.simple_tag(takes_context=True)
def lesson_progress(context: dict[str, Any], lesson_slug: str) -> dict[str, int]:
    """How many of the lesson's exercises this learner has passed, of how many."""
    request = context["request"]
    if "_passed_exercises" not in context.render_context:  # type: ignore[attr-defined]
        records = progress.for_learner(request)
        context.render_context["_passed_exercises"] = {s for s, r in records.items() if r.passed}  # type: ignore[attr-defined]
    passed = context.render_context["_passed_exercises"]  # type: ignore[attr-defined]
    practice = catalog.for_lesson(lesson_slug)
    return {"passed": sum(e.slug in passed for e in practice), "total": len(practice)}
