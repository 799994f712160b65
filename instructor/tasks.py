from django.tasks import task

from instructor import resets


@task()
def reset_dataset(job_id: int) -> str:
    """Run one queued reset (see instructor.resets.run); returns its final status."""
    return resets.run(job_id).status
