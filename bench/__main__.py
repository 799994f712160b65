"""``python -m bench`` (or ``make bench``): run every benchmark and write bench/results.md.

While writing a lesson, ``python -m bench lessons <lesson-slug>...`` times only those
lessons' comparisons, prints their table and updates their figures in bench/lessons.json.
``python -m bench lessons`` alone times every comparison and also replaces section 5 of
bench/results.md with the new table, leaving the other sections as they were measured.
"""

from __future__ import annotations

import os
import sys

import django


def main() -> None:
    """Set Django up with the app's settings, then run the suite."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    if sys.argv[1:2] == ["lessons"]:
        from bench import lessons, suite

        only = frozenset(sys.argv[2:])
        section = lessons.run(only)
        print(section)
        if not only:
            print(f"bench: replaced section 5 of {suite.replace_section(section)}")
        return
    from bench import suite

    print(f"bench: wrote {suite.run()}")


if __name__ == "__main__":
    main()
