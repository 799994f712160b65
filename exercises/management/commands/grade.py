import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from exercises import catalog, grading
from sandbox.management.commands.run_snippet import read_code


class Command(BaseCommand):
    help = "Grade a file against an exercise; exit 0 when it passes, 1 when it does not."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("file", help="a Python file, or - for standard input")

    def handle(self, *args: Any, slug: str, file: str, **options: Any) -> None:
        try:
            exercise = catalog.get(slug)
        except KeyError:
            raise CommandError(f"No exercise {slug!r}") from None
        result = grading.grade(exercise, read_code(file))
        self.stdout.write(json.dumps(result.to_json(), indent=2))
        if not result.passed:
            sys.exit(1)
