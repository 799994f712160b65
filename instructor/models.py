from django.conf import settings
from django.db import models

from blog.models import Dataset


class ResetJob(models.Model):
    """One reset or resize of the demo data, from the click to its outcome: the audit log."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    size = models.CharField(max_length=20)
    seed = models.PositiveIntegerField()
    preset = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    previous = models.ForeignKey(Dataset, null=True, on_delete=models.SET_NULL, related_name="+")
    result = models.ForeignKey(Dataset, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    # True while queued or running, NULL after: the unique index lets one job run at a time.
    active = models.BooleanField(null=True, default=True, unique=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.size}/{self.seed} {self.status}"

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
