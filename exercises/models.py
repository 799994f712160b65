import secrets

from django.conf import settings
from django.db import models


class Progress(models.Model):
    """One learner's record on one exercise: attempts, the verdict, and the code last written.

    A learner is an account once signed in (``user``), else an anonymous session
    (``session_key``, the key the session had when its first record was made).
    Signing up or in adopts the session's records (``exercises.progress.adopt``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="progress"
    )
    session_key = models.CharField(max_length=40, db_index=True)
    exercise = models.SlugField(max_length=100)
    attempts = models.PositiveIntegerField(default=0)
    passed = models.BooleanField(default=False)
    last_failure = models.CharField(max_length=100, blank=True)
    draft = models.TextField(blank=True)
    # Digests of the submitted programs that differ from the starter: three different ones open the reference.
    tried = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session_key", "exercise"],
                condition=models.Q(user__isnull=True),
                name="progress_once_per_session_exercise",
            ),
            models.UniqueConstraint(
                fields=["user", "exercise"],
                condition=models.Q(user__isnull=False),
                name="progress_once_per_user_exercise",
            ),
        ]
        verbose_name_plural = "progress"
        db_table = (
            "sandbox_progress"  # created when these models lived in the sandbox app; kept, with its rows
        )

    def __str__(self) -> str:
        who = self.user.get_username() if self.user is not None else self.session_key[:8]
        return f"{who} {self.exercise}: {'passed' if self.passed else 'attempted'}"


def _short_id() -> str:
    return secrets.token_urlsafe(6)


class Snippet(models.Model):
    """Shared code, shown read-only with the result it had when it was shared."""

    id = models.CharField(primary_key=True, max_length=12, default=_short_id, editable=False)
    code = models.TextField()
    result = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    # The learner's own model classes, if any (last: the name hides the module below it).
    models = models.TextField(blank=True, default="")

    class Meta:
        db_table = "sandbox_snippet"  # as Progress: the table the sandbox app created

    def __str__(self) -> str:
        return self.id
