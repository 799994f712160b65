"""The PostgreSQL sandbox: runs on the app's own PostgreSQL, never able to keep a change.

Enabled with ``QUERYLAB_SANDBOX_DATABASE=postgresql`` when the app itself runs on
PostgreSQL and the server's Unix socket is on this machine (bubblewrap leaves no
TCP inside the sandbox). Each dataset is a schema of the app database, built
here with the app's credentials; runs connect as ``querylab_sandbox``, a role
that may only read and write the dataset tables, inside a transaction the
worker always rolls back. Code can send COMMIT itself, so every dataset table
carries a deferred constraint trigger that fails any commit by that role.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, transaction

from blog import seed
from blog.models import Article, Author, Category, Comment, Tag
from sandbox.contract import LIMITS

ROLE = "querylab_sandbox"
MODELS = (Author, Category, Tag, Article, Comment)

REFUSE_COMMIT = f"""
CREATE OR REPLACE FUNCTION public.querylab_refuse_sandbox_commit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_user = '{ROLE}' THEN
        RAISE EXCEPTION 'QueryLab never keeps what a run changes: this COMMIT was refused';
    END IF;
    RETURN NULL;
END $$
"""


def enabled() -> bool:
    wanted = getattr(settings, "SANDBOX_DATABASE", "sqlite") == "postgresql"
    return wanted and connection.vendor == "postgresql"


def schema_name(size: str, seed_value: int) -> str:
    if size not in seed.SIZES or seed_value < 0:
        raise ValueError(f"no dataset {size}/{seed_value}")
    return f"qlds_{size}_{int(seed_value)}"


def _password() -> str:
    path = Path(settings.VAR_DIR) / "sandbox_pg_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def socket_dir() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW unix_socket_directories")
        (directories,) = cursor.fetchone()
    return str(directories).split(",")[0].strip()


def worker_environment() -> dict[str, str]:
    """What the worker needs to connect as the sandbox role, and nothing of the app's."""
    params = connection.settings_dict
    return {
        "QUERYLAB_SANDBOX_DATABASE": "postgresql",
        "PGHOST": socket_dir(),
        "PGPORT": str(params.get("PORT") or 5432),
        "PGDATABASE": str(params["NAME"]),
        "PGUSER": ROLE,
        "PGPASSWORD": _password(),
    }


def ensure_role() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE])
        if cursor.fetchone() is None:
            cursor.execute(f"CREATE ROLE {ROLE} LOGIN NOINHERIT NOCREATEDB NOCREATEROLE")
        cursor.execute(f"ALTER ROLE {ROLE} PASSWORD %s", [_password()])
        cursor.execute(f"ALTER ROLE {ROLE} SET statement_timeout = {LIMITS.statement_ms}")
        cursor.execute(f'GRANT CONNECT ON DATABASE "{connection.settings_dict["NAME"]}" TO {ROLE}')
        cursor.execute(REFUSE_COMMIT)


# The digest a dataset's schema was built with, kept as the schema's comment.
DIGEST_SQL = "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s"


def prepared_digest(size: str, seed_value: int) -> str | None:
    """The digest recorded when the schema was built, or None when it does not exist yet."""
    with connection.cursor() as cursor:
        cursor.execute(DIGEST_SQL, [schema_name(size, seed_value)])
        row = cursor.fetchone()
    return row[0] if row and row[0] else None


def drop_dataset(size: str, seed_value: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema_name(size, seed_value)} CASCADE")


def ensure_dataset(size: str, seed_value: int) -> str:
    """Build the (size, seed) schema once (any node may ask; one builds) and return its digest."""
    existing = prepared_digest(size, seed_value)
    if existing:
        return existing
    schema = schema_name(size, seed_value)
    ensure_role()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [schema])
        existing = prepared_digest(size, seed_value)
        if existing:
            return existing
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            cursor.execute(f"CREATE SCHEMA {schema}")
            cursor.execute(f"SET LOCAL search_path TO {schema}")
        with connection.schema_editor() as editor:
            for model in MODELS:
                editor.create_model(model)
        rows = seed.generate(size, seed_value)
        seed.write_raw(rows)
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), list(seed.TABLE_ROWS)):
                cursor.execute(sql)
        digest = seed.rows_digest(rows)
        with connection.cursor() as cursor:
            for table_model in seed.TABLE_ROWS:
                table = connection.ops.quote_name(table_model._meta.db_table)
                cursor.execute(
                    f"CREATE CONSTRAINT TRIGGER querylab_sandbox_never_commits "
                    f"AFTER INSERT OR UPDATE OR DELETE ON {table} DEFERRABLE INITIALLY DEFERRED "
                    f"FOR EACH ROW EXECUTE FUNCTION public.querylab_refuse_sandbox_commit()"
                )
            cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {ROLE}")
            cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {ROLE}")
            cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {ROLE}")
            cursor.execute(f"COMMENT ON SCHEMA {schema} IS %s", [digest])
            cursor.execute("SET LOCAL search_path TO DEFAULT")
    return digest
