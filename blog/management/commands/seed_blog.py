import argparse
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection

from blog import seed as seeding
from blog.models import Article


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value!r}")
    return number


class Command(BaseCommand):
    help = "Replace the demo blog's data with the deterministic dataset for a size and seed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", choices=list(seeding.SIZES), default=seeding.DEFAULT_SIZE)
        parser.add_argument("--seed", type=non_negative_int, default=seeding.DEFAULT_SEED)
        parser.add_argument(
            "--if-empty", action="store_true", help="Only seed when the blog has no articles."
        )

    def handle(self, *args: Any, size: str, seed: int, if_empty: bool, **options: Any) -> None:
        try:
            if if_empty and Article.objects.exists():
                self.stdout.write("The blog already has data; not reseeding.")
                return
            started = time.perf_counter()
            dataset = seeding.seed(size, seed)
        except DatabaseError as exc:
            where = connection.settings_dict.get("HOST") or connection.settings_dict.get("NAME")
            raise CommandError(f"Could not reach the database ({where}): {exc}".strip()) from exc
        except seeding.SeedError as exc:
            raise CommandError(f"Seeding failed and changed nothing: {exc}") from exc
        counts = ", ".join(f"{n:,} {label.lower()}" for label, n in dataset.labelled_counts())
        self.stdout.write(
            self.style.SUCCESS(f"Seeded {size}/{seed} in {time.perf_counter() - started:.2f}s: {counts}")
        )
        self.stdout.write(f"digest {dataset.digest}")
