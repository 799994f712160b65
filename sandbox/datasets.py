"""Datasets for the sandbox, prepared here on the web side of the socket, for both backends.

A dataset is named by (size, seed) and built from ``blog.seed``. On SQLite it is
a database file under ``DATASETS_DIR/<version>/`` with its digest beside it,
which the worker sees read-only and stages a private copy of; on PostgreSQL
it is a schema of the app database (``sandbox/pg.py``). Either way the worker
never builds one: it only opens what is here, so building the largest dataset
never holds up a run on another.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction

from blog import seed
from sandbox import pg
from sandbox.contract import DatasetRef

_ready: set[DatasetRef] = set()
_lock = threading.Lock()


def version() -> str:
    """The seed's code: a dataset built by other code is another dataset."""
    digest = hashlib.sha256()
    for module in ("seed.py", "models.py"):
        digest.update((settings.BASE_DIR / "blog" / module).read_bytes())
    return digest.hexdigest()[:12]


def directory() -> Path:
    path = Path(settings.DATASETS_DIR) / version()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _meta(dataset: DatasetRef) -> Path:
    return directory() / f"{dataset.key()}.json"


def prepared_digest(dataset: DatasetRef) -> str | None:
    """The digest ``dataset`` was prepared with, or None when it has not been prepared."""
    if pg.enabled():
        return pg.prepared_digest(dataset.size, dataset.seed)
    try:
        return str(json.loads(_meta(dataset).read_text())["digest"])
    except (OSError, ValueError, KeyError):
        return None


def ensure(dataset: DatasetRef) -> str:
    """Prepare ``dataset`` once (any process may ask; one builds) and return its digest."""
    if dataset.size not in seed.SIZES or dataset.seed < 0:
        raise LookupError(f"no dataset {dataset.size}/{dataset.seed}")
    if pg.enabled():
        return pg.ensure_dataset(dataset.size, dataset.seed)
    existing = prepared_digest(dataset)
    if existing:
        return existing
    with open(directory() / f"{dataset.key()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return prepared_digest(dataset) or _build(dataset)


def copy_of(dataset: DatasetRef) -> seed.Copy | None:
    """Where the app's database can copy ``dataset``'s rows from, once it is prepared."""
    digest = prepared_digest(dataset)
    if digest is None:
        return None
    if pg.enabled():
        return seed.Copy(digest, schema=pg.schema_name(dataset.size, dataset.seed))
    return seed.Copy(digest, sqlite_file=str(directory() / f"{dataset.key()}.sqlite3"))


def discard(dataset: DatasetRef) -> None:
    """Remove ``dataset``'s prepared copy (a benchmark's throwaway); the next ``ensure`` builds it again."""
    with _lock:
        _ready.discard(dataset)
    if pg.enabled():
        pg.drop_dataset(dataset.size, dataset.seed)
        return
    for path in directory().glob(f"{dataset.key()}.*"):
        path.unlink(missing_ok=True)


def ensure_cached(dataset: DatasetRef) -> None:
    """``ensure()``, asked of the disk only the first time in this process."""
    if dataset in _ready:
        return
    ensure(dataset)
    with _lock:
        _ready.add(dataset)


def _build(dataset: DatasetRef) -> str:
    started = time.perf_counter()
    target = directory() / f"{dataset.key()}.sqlite3"
    temporary = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.unlink(missing_ok=True)
    alias = f"prepare_{dataset.key()}_{threading.get_ident()}"
    connections.settings[alias] = connections.configure_settings(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(temporary)}}
    )["default"]
    try:
        connection = connections[alias]
        with connection.schema_editor() as editor:
            for model in pg.MODELS:
                editor.create_model(model)
        rows = seed.generate(dataset.size, dataset.seed)
        with connection.cursor() as cursor:  # a file that becomes the dataset only once whole
            cursor.execute("PRAGMA journal_mode = OFF")
            cursor.execute("PRAGMA synchronous = OFF")
        with transaction.atomic(using=alias):
            seed.write_raw(rows, using=alias)
        digest = seed.rows_digest(rows)
        connection.close()
    finally:
        del connections[alias]
        del connections.settings[alias]
    os.replace(temporary, target)
    meta = {
        "size": dataset.size,
        "seed": dataset.seed,
        "digest": digest,
        "seconds": time.perf_counter() - started,
    }
    _meta(dataset).with_suffix(".tmp").write_text(json.dumps(meta))
    os.replace(_meta(dataset).with_suffix(".tmp"), _meta(dataset))
    _forget_other_versions()
    return digest


def _forget_other_versions() -> None:
    current = directory()
    for other in current.parent.iterdir():
        if other.is_dir() and other != current:
            shutil.rmtree(other, ignore_errors=True)
