"""``python -m sandbox.worker --listen-fd N``: Django first, then the server."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox.worker.settings")
django.setup()

from sandbox.worker.server import main  # noqa: E402  (needs the app registry)

main(sys.argv[1:])
