from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "lessons"

    def ready(self) -> None:
        # A broken lesson file stops the app at start-up with its file and line.
        from lessons import loader

        loader.all_lessons()
