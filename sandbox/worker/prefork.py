"""What the worker's main process does once, so that every process forked from it shares it.

Each run's child is a fork, and on this kind of machine what a fork costs is
mostly page faults: every page a child writes to is copied first (4.6 µs each
here). A child writes to far more pages than its own data, because CPython
writes to every object it touches (its reference count) and to the bytecode it
runs (the specializing interpreter's counters and caches). Measured on the
grading solution of article-authors (one select_related query, twenty rows
printed): 2,300 faults and 22 ms of CPU per child; after this module, 1,000
faults and 12 ms. So, before the first fork:

- ``tour``: the ORM's common paths are run once, on the blog's tables made empty
  in the worker's own in-memory database: Django's lazy caches are filled and the
  bytecode of those paths is specialized here, once, instead of in every child.
  Nothing of it reaches a run: the database is closed and forgotten.
- ``immortalize``: every object alive now is made immortal (PEP 683), as CPython
  makes its own constants: reference counting skips immortal objects, so a child
  that uses Django's objects no longer writes to (and copies) their pages.
- ``gc.freeze``: the collector never scans them either.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import io
import sys
import sysconfig
from collections.abc import Iterable
from datetime import UTC, datetime

from django.apps import apps
from django.db import connections

from blog.models import Article, Author, Category, Comment, Tag
from sandbox.worker import child

# The paths most runs take: joins, prefetches, related objects one by one (the N+1),
# aggregates, values, pagination by slicing, writes in bulk and one by one.
TOUR = (
    """
for article in Article.objects.select_related("author", "category").order_by("-pub_date")[:20]:
    print(article.title, article.author.username, article.category.name)
for article in Article.objects.all():
    print(article.author.name, article.tags.count(), [tag.name for tag in article.tags.all()])
for author in Author.objects.prefetch_related("articles__tags", "comments").annotate(n=Count("articles")):
    print(author.n, [a.title for a in author.articles.all()], len(author.comments.all()))
print(list(Article.objects.values("category__name").annotate(total=Sum("views")).order_by("-total")))
print(list(Comment.objects.filter(is_approved=True).values_list("article_id", flat=True)[:5]))
print(Article.objects.filter(status="published").exists(), Article.objects.count())
print(Article.objects.aggregate(Avg("views"), Max("pub_date")))
for comment in Comment.objects.only("body").iterator(chunk_size=100):
    print(comment.body)
Article.objects.filter(pk__in=[1]).update(views=F("views") + 1)
Tag.objects.bulk_create([Tag(name="tour-b", slug="tour-b")])
""",
)


def tour(steps: Iterable[str], names: dict[str, object]) -> None:
    """Run ``steps`` against the blog's empty tables, with one row in each, in an in-memory SQLite."""
    connection = connections["default"]
    if connection.vendor != "sqlite" or connection.settings_dict["NAME"] != ":memory:":
        return  # a PostgreSQL worker keeps no database of its own to walk the ORM on
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("blog").get_models():
            editor.create_model(model)
    _one_of_each()
    try:
        for step in steps:
            exec(compile(step, "<tour>", "exec"), dict(names))
    finally:  # the in-memory database goes with its connection (which Django's close() keeps)
        if connection.connection is not None:
            connection.connection.close()
            connection.connection = None


def _one_of_each() -> None:
    author = Author.objects.create(
        username="tour", name="Tour", email="tour@example.com", joined_at=datetime(2024, 1, 1, tzinfo=UTC)
    )
    category = Category.objects.create(name="Tour", slug="tour")
    article = Article.objects.create(
        title="Tour", slug="tour", author=author, category=category, body="", html_content="",
        status="published", pub_date=datetime(2024, 1, 2, tzinfo=UTC),
    )  # fmt: skip
    article.tags.add(Tag.objects.create(name="tour", slug="tour"))
    Comment.objects.create(
        article=article, author=author, body="", created_at=datetime(2024, 1, 3, tzinfo=UTC)
    )


# CPython 3.12 and 3.13 on 64-bit builds with the GIL: an object whose 32-bit reference count
# is all ones is immortal (Include/refcount.h, _Py_IMMORTAL_REFCNT); increments and decrements
# leave it as it is. Other versions lay this out differently: there, nothing is changed.
_IMMORTAL_REFCNT = 0xFFFFFFFF


def can_immortalize() -> bool:
    return (
        sys.implementation.name == "cpython"
        and sys.version_info[:2] in {(3, 12), (3, 13)}
        and sys.maxsize > 2**32
        and not sysconfig.get_config_var("Py_GIL_DISABLED")
    )


def immortalize() -> int:
    """Make every object reachable from the collector's objects immortal; how many there were.

    Call with no other thread running, after ``gc.collect()``. The objects are never freed afterwards: this is for
    a process whose heap is what its forks share.
    """
    if not can_immortalize():
        return 0
    seen: set[int] = set()
    pending: list[object] = gc.get_objects()
    bookkeeping = {id(seen), id(pending)}  # this walk's own containers stay mortal
    while pending:
        found: list[object] = []
        bookkeeping.add(id(found))
        for obj in pending:
            address = id(obj)
            if address in seen or address in bookkeeping:
                continue
            seen.add(address)
            ctypes.c_ssize_t.from_address(address).value = _IMMORTAL_REFCNT
            found.extend(gc.get_referents(obj))
        pending = found
    return len(seen)


def settle() -> int:
    """Everything above, in order; how many objects were made immortal."""
    with contextlib.redirect_stdout(io.StringIO()):
        tour(TOUR, child.namespace(guarded=False))
    gc.collect()
    count = immortalize()
    gc.freeze()
    return count
