import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import runner
from sandbox.contract import RunRequest


def read_code(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc


class Command(BaseCommand):
    help = "Run a file of queryset code in the sandbox and print the RunResult JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="a Python file, or - for standard input")
        parser.add_argument("--repeat", type=int, default=1)
        parser.add_argument("--latency-ms", type=float, default=0)
        parser.add_argument(
            "--models", metavar="FILE", help="a file of your own model classes, made before the code runs"
        )

    def handle(
        self, *args: Any, file: str, repeat: int, latency_ms: float, models: str | None, **options: Any
    ) -> None:
        source = read_code(models) if models else ""
        result = runner.run(RunRequest(read_code(file), repeat=repeat, latency_ms=latency_ms, models=source))
        self.stdout.write(json.dumps(result.to_json(), indent=2))
