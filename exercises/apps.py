from django.apps import AppConfig


class ExercisesConfig(AppConfig):
    """Exercises: their content, grading, learners' progress and drafts, snippets, the playground."""

    name = "exercises"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from exercises import progress

        # Signing up or in keeps what the learner did before, in this browser.
        user_logged_in.connect(
            lambda sender, request, user, **kwargs: progress.adopt(request, user),
            dispatch_uid="exercises.progress.adopt",
            weak=False,
        )
