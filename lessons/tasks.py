from django.tasks import task

from lessons import runs


@task()
def measure_lessons(seed: int) -> int:
    """Measure every comparison's Scale it on the datasets of ``seed``; how many needed it."""
    return runs.measure_all(seed)
