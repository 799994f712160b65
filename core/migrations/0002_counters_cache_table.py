# The rate-limit counters' table (settings.CACHES["counters"]), beside the shared cache's:
# createcachetable makes every configured cache's table that is missing.
from importlib import import_module

from django.db import migrations

first = import_module("core.migrations.0001_cache_table")


class Migration(migrations.Migration):
    dependencies = [("core", "0001_cache_table")]
    operations = [migrations.RunPython(first.create_cache_table, migrations.RunPython.noop)]
