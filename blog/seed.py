"""The deterministic demo-blog generator.

``generate(size, seed)`` builds every row as plain tuples from a seeded
``random.Random`` and small pools of Faker text (Faker is called a fixed number
of times per seed, never per field per row). ``seed(size, seed)`` writes them
(one ``executemany`` per batch), or copies them from the sandbox's copy of the
same dataset, inside one transaction: a failure or an interrupt leaves the
previous data exactly as it was. The same size and seed give the same rows,
and so the same ``dataset_digest()``, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.core.management.color import no_style
from django.db import DatabaseError, connections, models, transaction
from django.db.models.constants import OnConflict
from django.utils.text import slugify
from faker import Faker

from blog.models import Article, Author, Category, Comment, Dataset, Tag


@dataclass(frozen=True)
class Size:
    authors: int
    categories: int
    tags: int
    articles: int
    comments: int


SIZES: dict[str, Size] = {
    "tiny": Size(5, 3, 8, 20, 60),
    "small": Size(20, 6, 20, 200, 1_000),
    "default": Size(50, 10, 30, 1_000, 5_000),
    "large": Size(500, 20, 100, 20_000, 100_000),
}
DEFAULT_SIZE = "default"
DEFAULT_SEED = 1

# Every date is relative to a fixed instant, never to "now": the same seed
# gives the same rows next year too.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

CATEGORY_NAMES = [
    "Databases", "Python", "Web Development", "Performance", "Testing", "DevOps",
    "Security", "Data Science", "Frontend", "Career", "Architecture", "Tooling",
    "Cloud", "Open Source", "Mobile", "Design", "Machine Learning", "Networking",
    "Accessibility", "Community",
]  # fmt: skip
TAG_NAMES = [
    "django", "postgresql", "sqlite", "orm", "indexes", "caching", "htmx", "async",
    "testing", "pytest", "migrations", "sql", "joins", "profiling", "deployment",
    "docker", "security", "api", "rest", "graphql", "celery", "redis", "javascript",
    "css", "typing", "packaging", "logging", "monitoring", "linux", "git",
]  # fmt: skip

ProgressCallback = Callable[[str, int], None]


class SeedError(Exception):
    """The generated rows could not be written as they are."""


@dataclass
class Rows:
    """A whole dataset as plain tuples, in the column order of the models."""

    authors: list[tuple[Any, ...]] = field(default_factory=list)
    categories: list[tuple[Any, ...]] = field(default_factory=list)
    tags: list[tuple[Any, ...]] = field(default_factory=list)
    articles: list[tuple[Any, ...]] = field(default_factory=list)
    article_tags: list[tuple[int, int]] = field(default_factory=list)
    comments: list[tuple[Any, ...]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "author": len(self.authors),
            "category": len(self.categories),
            "tag": len(self.tags),
            "article": len(self.articles),
            "comment": len(self.comments),
        }


# Column order of each table's tuples; the ORM writer and the raw writer share it.
COLUMNS: dict[type[models.Model], tuple[str, ...]] = {
    Author: ("id", "username", "name", "email", "bio", "joined_at"),
    Category: ("id", "name", "slug"),
    Tag: ("id", "name", "slug"),
    Article: (
        "id",
        "title",
        "slug",
        "author_id",
        "category_id",
        "body",
        "html_content",
        "status",
        "pub_date",
        "views",
    ),  # fmt: skip
    Article.tags.through: ("article_id", "tag_id"),
    Comment: ("id", "article_id", "author_id", "body", "created_at", "is_approved"),
}
TABLE_ROWS: dict[type[models.Model], str] = {
    Author: "authors",
    Category: "categories",
    Tag: "tags",
    Article: "articles",
    Article.tags.through: "article_tags",
    Comment: "comments",
}


class _Pools:
    """A fixed amount of Faker text per seed, recombined by the RNG."""

    def __init__(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.first_names = [fake.first_name() for _ in range(120)]
        self.last_names = [fake.last_name() for _ in range(120)]
        self.sentences = [fake.sentence(nb_words=12) for _ in range(600)]
        self.titles = [fake.sentence(nb_words=5).rstrip(".") for _ in range(400)]
        self.words = sorted({w.lower() for w in fake.words(nb=400)} - set(TAG_NAMES))

    def paragraph(self, rng: random.Random, low: int = 4, high: int = 7) -> str:
        return " ".join(rng.choices(self.sentences, k=rng.randint(low, high)))


def _weighted_sample(rng: random.Random, population: Sequence[int], cum: list[float], k: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < k:
        pick = rng.choices(population, cum_weights=cum)[0]
        if pick not in chosen:
            chosen.append(pick)
    return chosen


def _cumulative(weights: Iterable[float]) -> list[float]:
    total, cum = 0.0, []
    for w in weights:
        total += w
        cum.append(total)
    return cum


def generate(size: str, seed: int) -> Rows:
    """Every row of the dataset named by (size, seed), without touching the database (see ``generating_once``)."""
    made = _generated.get()
    if made is not None and (size, seed) in made:
        return made[(size, seed)]
    rows = _generate(size, seed)
    if made is not None:
        made[(size, seed)] = rows
    return rows


def _generate(size: str, seed: int) -> Rows:
    spec = SIZES[size]
    rng = random.Random(f"querylab:{size}:{seed}")
    pools = _Pools(seed)
    rows = Rows()

    used_usernames: set[str] = set()
    joined: list[datetime] = []
    for author_id in range(1, spec.authors + 1):
        first, last = rng.choice(pools.first_names), rng.choice(pools.last_names)
        username = base = f"{slugify(first)}.{slugify(last)}"
        n = 1
        while username in used_usernames:
            n += 1
            username = f"{base}{n}"
        used_usernames.add(username)
        joined_at = EPOCH - timedelta(days=rng.randint(400, 2500), seconds=rng.randint(0, 86399))
        if author_id == 1:  # the founder joined early, after the silent account
            joined_at = EPOCH - timedelta(days=2550)
        elif author_id == spec.authors:  # the silent account: the first to join, never writes
            joined_at = EPOCH - timedelta(days=2600)
        joined.append(joined_at)
        bio = " ".join(rng.choices(pools.sentences, k=rng.randint(1, 3)))
        rows.authors.append(
            (author_id, username, f"{first} {last}", f"{username}@example.com", bio, joined_at)
        )

    for category_id, name in enumerate(CATEGORY_NAMES[: spec.categories], start=1):
        rows.categories.append((category_id, name, slugify(name)))

    tag_names = TAG_NAMES[: spec.tags] + pools.words[: max(0, spec.tags - len(TAG_NAMES))]
    for tag_id, name in enumerate(tag_names, start=1):
        rows.tags.append((tag_id, name, slugify(name)))

    # A few prolific authors, popular categories and tags: Zipf-like weights. The last
    # author never writes, and the last category holds drafts only, so every size has
    # the rows both branches of a yes/no or a zero need (tests/blog/test_seed.py).
    author_ids = list(range(1, spec.authors))
    author_cum = _cumulative(1 / rank**1.1 for rank in author_ids)
    category_ids = list(range(1, spec.categories + 1))
    category_cum = _cumulative(1 / rank**0.6 for rank in category_ids)
    published_category_cum = category_cum[:-1]
    tag_ids = list(range(1, spec.tags + 1))
    tag_cum = _cumulative(1 / rank**0.8 for rank in tag_ids)

    published: list[tuple[int, datetime]] = []
    for article_id in range(1, spec.articles + 1):
        author_id = rng.choices(author_ids, cum_weights=author_cum)[0]
        title = rng.choice(pools.titles)
        paragraphs = [pools.paragraph(rng) for _ in range(rng.randint(5, 9))]
        body = "\n\n".join(paragraphs)
        html_content = f"<h2>{title}</h2>\n" + "\n".join(
            f'<p class="lead">{p}</p>' if i == 0 else f"<p>{p}</p>" for i, p in enumerate(paragraphs)
        )
        is_published = rng.random() < 0.8 and article_id != 1  # the founder's first: a draft
        if article_id == 1:
            author_id = 1
        pub_date = None
        views = 0
        if is_published:
            since = joined[author_id - 1]
            span = int((EPOCH - since).total_seconds())
            pub_date = since + timedelta(seconds=rng.randint(span // 10, span - 3600))
            views = int(rng.lognormvariate(6, 1.3))
            published.append((article_id, pub_date))
        if article_id == 1:
            category_id = spec.categories
            rng.random()
        elif is_published:
            category_id = rng.choices(category_ids[:-1], cum_weights=published_category_cum)[0]
        else:
            category_id = rng.choices(category_ids, cum_weights=category_cum)[0]
        rows.articles.append(
            (
                article_id,
                title,
                f"{slugify(title)[:200]}-{article_id}",
                author_id,
                category_id,
                body,
                html_content,
                "published" if is_published else "draft",
                pub_date,
                views,
            )
        )
        for tag_id in sorted(_weighted_sample(rng, tag_ids, tag_cum, rng.randint(1, 5))):
            rows.article_tags.append((article_id, tag_id))

    # A few articles collect most of the comments (Pareto weights).
    article_cum = _cumulative(rng.paretovariate(1.1) for _ in published)
    for comment_id in range(1, spec.comments + 1):
        article_id, pub_date = rng.choices(published, cum_weights=article_cum)[0]
        seconds_open = max(60, int((EPOCH - pub_date).total_seconds()))
        created_at = pub_date + timedelta(seconds=rng.randint(60, seconds_open))
        rows.comments.append(
            (
                comment_id,
                article_id,
                1 if comment_id == 1 else rng.choices(author_ids, cum_weights=author_cum)[0],
                " ".join(rng.choices(pools.sentences, k=rng.randint(1, 4))),
                created_at,
                rng.random() < 0.85,
            )
        )
    return rows


def _delete_all(using: str) -> None:
    # Raw DELETEs in dependency order: the ORM's delete() would first SELECT
    # every article to collect its cascades, which is slow for 20,000 rows.
    connection = connections[using]
    with connection.cursor() as cursor:
        for model in (Comment, Article.tags.through, Article, Tag, Category, Author):
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")


BATCH_SIZE = 2000


# Within ``generating_once()``, what ``generate`` made, by (size, seed).
_generated: ContextVar[dict[tuple[str, int], Rows] | None] = ContextVar("generated", default=None)


@contextmanager
def generating_once() -> Iterator[None]:
    """Within the block, ``generate(size, seed)`` computes each dataset once.

    A reset writes the same rows twice, into the sandbox's copy and into the app's
    database; generating them is a good part of its time on ``large``.
    """
    token = _generated.set(_generated.get() or {})
    try:
        yield
    finally:
        _generated.reset(token)


def write(rows: Rows, *, using: str = "default", on_progress: ProgressCallback | None = None) -> None:
    """Replace the blog tables' contents with ``rows`` (the caller owns the transaction)."""
    report = on_progress or (lambda stage, written: None)
    connection = connections[using]
    report("deleting", 0)
    _delete_all(using)
    written = 0
    with connection.cursor() as cursor:
        for model, attr in TABLE_ROWS.items():
            table = getattr(rows, attr)
            for start in range(0, len(table), BATCH_SIZE):
                report(model._meta.model_name or attr, written)
                _insert(
                    cursor,
                    model,
                    table[start : start + BATCH_SIZE],
                    connection,
                    on_conflict=OnConflict.IGNORE,
                )
                if model is not Article.tags.through:  # progress counts what counts() counts
                    written += len(table[start : start + BATCH_SIZE])
            stored = model._default_manager.using(using).count()
            if stored != len(table):
                raise SeedError(f"{model._meta.db_table}: {len(table):,} rows generated, {stored:,} stored")
    report("sequences", written)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(TABLE_ROWS)):
            cursor.execute(sql)


@dataclass(frozen=True)
class Copy:
    """The dataset's rows, already written where the app's database can read them, with their digest.

    A reset builds the sandbox's copy first; the app's tables are then filled from it
    rather than generated and written again from Python: ``sqlite_file`` is a SQLite
    file of the blog tables, ``schema`` a schema of the app's own PostgreSQL database.
    """

    digest: str
    sqlite_file: str = ""
    schema: str = ""

    def usable(self, using: str) -> bool:
        connection = connections[using]
        if connection.vendor == "postgresql":
            return bool(self.schema or self.sqlite_file)
        # SQLite attaches a file only outside a transaction (a test's, for one).
        return connection.vendor == "sqlite" and bool(self.sqlite_file) and not connection.in_atomic_block


# Fills one model's table from a copy with a cursor of the app's database; returns the rows it copied.
Fill = Callable[[Any, type[models.Model]], int]


def _quoted(model: type[models.Model]) -> tuple[str, str]:
    """The table and its ``COLUMNS``, quoted as standard SQL: SQLite and PostgreSQL read them alike."""
    return f'"{model._meta.db_table}"', ", ".join(f'"{column}"' for column in COLUMNS[model])


def _insert_select(cursor: Any, model: type[models.Model], *, source: str) -> int:
    """Inside the database: ``INSERT ... SELECT`` from the same table in ``source``."""
    table, columns = _quoted(model)
    cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {source}.{table}")
    cursor.execute(f"SELECT COUNT(*) FROM {source}.{table}")
    return int(cursor.fetchone()[0])


def _copy_in(cursor: Any, model: type[models.Model], rows: Iterable[Sequence[Any]]) -> int:
    """PostgreSQL: ``rows`` (in ``COLUMNS`` order) into ``model``'s table through one ``COPY``; how many."""
    table, columns = _quoted(model)
    copied = 0
    with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as into:
        for row in rows:
            into.write_row(row)
            copied += 1
    return copied


def _stream(cursor: Any, model: type[models.Model], *, reader: sqlite3.Connection) -> int:
    """From a SQLite file into PostgreSQL: its rows as they are stored.

    SQLite holds what Django wrote there: datetimes as UTC text (the transaction's
    time zone is set to UTC before), booleans as 0 and 1, which PostgreSQL reads as such.
    """
    table, columns = _quoted(model)
    return _copy_in(cursor, model, reader.execute(f"SELECT {columns} FROM {table}"))


@contextmanager
def _source(copy: Copy | None, using: str) -> Iterator[Fill | None]:
    """How each table is filled from ``copy``, for the block; None without a copy.

    SQLite attaches the file read-only (outside any transaction, so before the block's);
    PostgreSQL copies from the dataset's schema inside the database, or streams a SQLite
    file in with ``COPY``.
    """
    if copy is None:
        yield None
        return
    connection = connections[using]
    if connection.vendor == "postgresql" and copy.schema:
        yield partial(_insert_select, source=connection.ops.quote_name(copy.schema))
        return
    uri = Path(copy.sqlite_file).resolve().as_uri() + "?mode=ro"
    if connection.vendor == "postgresql":
        with closing(sqlite3.connect(uri, uri=True)) as reader:
            reader.execute("SELECT 1 FROM sqlite_master")  # a file that is not there fails here
            yield partial(_stream, reader=reader)
        return
    with connection.cursor() as cursor:
        cursor.execute("ATTACH DATABASE %s AS copied", [uri])
    try:
        yield partial(_insert_select, source="copied")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DETACH DATABASE copied")


def _quick_compression(cursor: Any) -> None:
    """PostgreSQL: compress the transaction's long texts with lz4 when the server has it.

    An article's body and HTML are about 6 KB; on ``large`` that is 120 MB to compress,
    and lz4 does it in half the time of the default (measured: a ``COPY`` of the 20,000
    articles in 2.0 s instead of 3.8 s). Values already stored keep their own method.
    """
    cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
    if cursor.fetchone()[0]:
        cursor.execute("SET LOCAL default_toast_compression = lz4")


def _checks_after(cursor: Any, using: str) -> bool:
    """PostgreSQL: check the copy's references after it, one query per key, not once per row.

    Each row a foreign key points from queues a check that runs at commit: on ``large``,
    360,000 of them, about 3 s. A role allowed to set ``session_replication_role`` (a
    superuser, or one granted it) copies without them, and ``_check_references`` then
    checks every reference with one query per key; any other role keeps the checks per row.
    """
    try:
        with transaction.atomic(using=using):  # a savepoint: refused, the transaction goes on
            cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:
        return False
    return True


def _check_references(cursor: Any) -> None:
    """Every foreign key of the blog tables points at a row that exists, or the reset fails."""
    for model in TABLE_ROWS:
        for key in model._meta.concrete_fields:
            if not isinstance(key, models.ForeignKey):
                continue
            table, column = model._meta.db_table, key.column
            target, target_column = key.related_model._meta.db_table, key.target_field.column
            cursor.execute(
                f'SELECT COUNT(*) FROM "{table}" c WHERE c."{column}" IS NOT NULL AND NOT EXISTS '
                f'(SELECT 1 FROM "{target}" t WHERE t."{target_column}" = c."{column}")'
            )
            (dangling,) = cursor.fetchone()
            if dangling:
                raise SeedError(f"{table}.{column}: {dangling:,} rows point at no {target} row")


def _copy_from(fill: Fill, *, using: str, on_progress: ProgressCallback) -> None:
    """Replace the blog tables' contents with a copy's, table by table, each count checked."""
    connection = connections[using]
    on_progress("deleting", 0)
    _delete_all(using)
    copied = 0
    checks_after = False
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL TIME ZONE 'UTC'")
            _quick_compression(cursor)
            checks_after = _checks_after(cursor, using)
        for model in TABLE_ROWS:
            on_progress(model._meta.model_name or model._meta.db_table, copied)
            expected = fill(cursor, model)
            stored = model._default_manager.using(using).count()
            if stored != expected:
                raise SeedError(f"{model._meta.db_table}: {expected:,} rows to copy, {stored:,} stored")
            if model is not Article.tags.through:
                copied += stored
        if checks_after:
            cursor.execute("SET LOCAL session_replication_role = origin")
            on_progress("checking references", copied)
            _check_references(cursor)
    on_progress("sequences", copied)
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(TABLE_ROWS)):
            cursor.execute(sql)


def seed(
    size: str = DEFAULT_SIZE,
    seed: int = DEFAULT_SEED,
    *,
    using: str = "default",
    on_progress: ProgressCallback | None = None,
    copy: Copy | None = None,
) -> Dataset:
    """Generate the (size, seed) dataset and make it the live one, atomically.

    With a usable ``copy`` of the same dataset, its rows are copied rather than generated
    and written, and its digest is the dataset's (a copy made by the database holds the
    same rows; tests/blog check the two digests agree). ``on_progress(stage, rows_written)``
    is called between stages; an exception raised anywhere (including by the callback)
    rolls everything back.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    report = on_progress or (lambda stage, written: None)
    started = time.perf_counter()
    copy = copy if copy is not None and copy.usable(using) else None
    with _source(copy, using) as fill, transaction.atomic(using=using):
        if copy is not None and fill is not None:
            _copy_from(fill, using=using, on_progress=report)
            counts, digest = live_counts(using), copy.digest
        else:
            report("generating", 0)
            rows = generate(size, seed)
            write(rows, using=using, on_progress=report)
            report("digest", sum(rows.counts().values()))
            counts, digest = rows.counts(), dataset_digest(using=using)
        dataset = Dataset.objects.using(using).create(
            size=size,
            seed=seed,
            digest=digest,
            counts=counts,
            seconds=round(time.perf_counter() - started, 3),
        )
    report("done", sum(counts.values()))
    return dataset


def _canonical(value: object) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return repr(value)


def _digest(tables: Iterable[tuple[type[models.Model], Iterable[tuple[Any, ...]]]]) -> str:
    """sha256 over each table's name, then its rows in order, one canonical line each."""
    digest = hashlib.sha256()
    for model, rows in tables:
        digest.update(f"#{model._meta.db_table}\n".encode())
        for row in rows:
            digest.update("\x1f".join(map(_canonical, row)).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def dataset_digest(using: str = "default") -> str:
    """sha256 over the ordered rows of the five tables and the article-tag links."""
    return _digest(
        (
            model,
            model._default_manager.using(using)
            .order_by(*(("article_id", "tag_id") if model is Article.tags.through else ("id",)))
            .values_list(*columns)
            .iterator(chunk_size=5000),
        )
        for model, columns in COLUMNS.items()
    )


def rows_digest(rows: Rows) -> str:
    """``dataset_digest()`` of a database holding exactly ``rows``, computed without one."""
    return _digest((model, sorted(getattr(rows, TABLE_ROWS[model]))) for model in COLUMNS)


def live_counts(using: str = "default") -> dict[str, int]:
    return {
        "author": Author.objects.using(using).count(),
        "category": Category.objects.using(using).count(),
        "tag": Tag.objects.using(using).count(),
        "article": Article.objects.using(using).count(),
        "comment": Comment.objects.using(using).count(),
    }


def live_dataset(using: str = "default") -> Dataset | None:
    """The most recent successful seeding, or None on an empty database."""
    return Dataset.objects.using(using).order_by("-id").first()


def _insert(
    cursor: Any,
    model: type[models.Model],
    table: Sequence[tuple[Any, ...]],
    connection: Any,
    *,
    on_conflict: OnConflict | None = None,
) -> None:
    """One ``executemany`` of ``table``'s tuples (in ``COLUMNS`` order) into ``model``'s table: no ORM.

    ``OnConflict.IGNORE`` skips rows that collide (the backend's own words for it), so
    that ``write`` can report a generator bug as rows missing rather than fail half-way.
    """
    ops = connection.ops
    columns = COLUMNS[model]
    fields = [model._meta.get_field(c.removesuffix("_id")) for c in columns]
    adapt = [ops.adapt_datetimefield_value if isinstance(f, models.DateTimeField) else None for f in fields]
    values = [tuple(v if a is None else a(v) for v, a in zip(row, adapt, strict=True)) for row in table]
    placeholders = ", ".join(["%s"] * len(columns))
    suffix = ops.on_conflict_suffix_sql(fields, on_conflict, None, None) if on_conflict else ""
    name, quoted = _quoted(model)
    cursor.executemany(
        f"{ops.insert_statement(on_conflict=on_conflict)} {name} ({quoted}) VALUES ({placeholders}) {suffix}".rstrip(),
        values,
    )


def write_raw(rows: Rows, *, using: str = "default") -> None:
    """Insert ``rows`` into empty tables, one statement per table: the sandbox's datasets.

    An ``executemany`` on SQLite; a ``COPY`` on PostgreSQL (inside the caller's
    transaction), where the same ``large`` dataset goes in several times faster.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        for model, attr in TABLE_ROWS.items():
            if connection.vendor == "postgresql":
                _copy_in(cursor, model, getattr(rows, attr))
            else:
                _insert(cursor, model, getattr(rows, attr), connection)
