"""Settings of the sandbox worker: no secrets, no app database, only the blog.

Every dataset lives in an in-memory SQLite database built by the worker itself
from (size, seed); the app's database, its credentials and its SECRET_KEY are
never visible here.
"""

import secrets

# Not the app's key: a throwaway per process, since Django requires one.
SECRET_KEY = secrets.token_urlsafe(32)
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["blog.apps.BlogConfig"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING_CONFIG = None
