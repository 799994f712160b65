from django.tasks import task

from exercises import warm


@task()
def warm_up(lessons: bool = True) -> int:
    """Prepare the datasets of the live seed and (``lessons``) measure Scale it (see exercises.warm)."""
    return warm.warm(lessons=lessons)
