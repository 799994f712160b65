"""``python -m bench`` (or ``make bench``): run every benchmark and write bench/results.md."""

from __future__ import annotations

import os

import django


def main() -> None:
    """Set Django up with the app's settings, then run the suite."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from bench import suite

    print(f"bench: wrote {suite.run()}")


if __name__ == "__main__":
    main()
