from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from exercises import warm
from exercises.tasks import warm_up


class Command(BaseCommand):
    help = (
        "Get ready for a class: build every dataset learners can reach on the live seed "
        "and measure each lesson's Scale it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Queue it for the task worker and return at once (make run and make serve do).",
        )
        parser.add_argument(
            "--datasets-only", action="store_true", help="Build the datasets; do not measure the lessons."
        )

    def handle(self, *args: Any, enqueue: bool, datasets_only: bool, **options: Any) -> None:
        if not settings.QUERYLAB_WARM_UP:
            self.stdout.write("No warm-up: QUERYLAB_WARM_UP is 0.")
            return
        if enqueue:
            result = warm_up.enqueue(lessons=not datasets_only)
            self.stdout.write(f"Queued the warm-up for the task worker ({result.id}).")
            return
        measured = warm.warm(lessons=not datasets_only, say=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(f"Ready: {measured} comparison(s) measured."))
