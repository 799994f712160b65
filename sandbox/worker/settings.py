"""Settings of the sandbox worker: no secrets, no app database, only the blog.

Runs use the datasets the web side prepared: a staged copy of a SQLite file, or a
schema of the app's PostgreSQL reached as the sandbox role. The app's own
database, its credentials and its SECRET_KEY are never visible here.
"""

import os
import secrets

# Not the app's key: a throwaway per process, since Django requires one.
SECRET_KEY = secrets.token_urlsafe(32)
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["blog.apps.BlogConfig", "sandbox.worker.playground.apps.PlaygroundConfig"]
DATABASES: dict[str, dict[str, object]] = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
}
if os.environ.get("QUERYLAB_SANDBOX_DATABASE") == "postgresql":
    # The sandbox role over the server's Unix socket (see sandbox/pg.py). Each run's
    # supervisor opens its own connection, with its dataset's schema as search_path.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ["PGHOST"],
            "PORT": os.environ["PGPORT"],
            "NAME": os.environ["PGDATABASE"],
            "USER": os.environ["PGUSER"],
            "PASSWORD": os.environ["PGPASSWORD"],
            "OPTIONS": {},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING_CONFIG = None
# Templates from strings only (the template N+1 lesson renders one): no loader can read a file.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": False,
        "OPTIONS": {"loaders": []},
    }
]
