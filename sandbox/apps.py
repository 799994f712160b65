from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SandboxConfig(AppConfig):
    name = "sandbox"

    def ready(self) -> None:
        from sandbox import isolation

        # Reduced isolation is for a laptop only: a production server never runs
        # learners' code without bubblewrap.
        if getattr(settings, "PRODUCTION", False) and isolation.level() != "bubblewrap":
            raise ImproperlyConfigured(
                "DJANGO_ENV=production needs bubblewrap to isolate learners' code, and bwrap is "
                "missing or cannot create namespaces here. Install it (apt-get install bubblewrap)."
            )
