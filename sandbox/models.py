import secrets

from django.db import models


class Progress(models.Model):
    """One learner's record on one exercise; learners are anonymous sessions."""

    session_key = models.CharField(max_length=40, db_index=True)
    exercise = models.SlugField(max_length=100)
    attempts = models.PositiveIntegerField(default=0)
    passed = models.BooleanField(default=False)
    last_failure = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session_key", "exercise"], name="progress_once_per_exercise")
        ]
        verbose_name_plural = "progress"

    def __str__(self) -> str:
        return f"{self.session_key[:8]} {self.exercise}: {'passed' if self.passed else 'attempted'}"


def _short_id() -> str:
    return secrets.token_urlsafe(6)


class Snippet(models.Model):
    """Shared code, shown read-only with the result it had when it was shared."""

    id = models.CharField(primary_key=True, max_length=12, default=_short_id, editable=False)
    code = models.TextField()
    result = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id
