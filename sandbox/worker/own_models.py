"""A learner's own models, in the child: defined, checked, given tables, described, filled.

The models source runs in the child like any learner code (same guard, same
limits, same process). Its classes join the ``playground`` app
(``sandbox.worker.playground``), so their tables are ``playground_<name>``.
Their tables are made by the supervisor: the child compiles the DDL with
Django's schema editor and sends it (``wire.SCHEMA``); the supervisor checks
that each statement only creates a playground table or index, runs it in the
run's transaction (rolled back with everything else) and lists it as a schema
statement, not counted. The description sent with it (names, fields,
relations) is only ever drawn, in the diagram.

``fill(Model, n)`` makes ``n`` rows of fake data for one of them: Faker text and
numbers seeded by the dataset's seed and the model's name (the same rows every
time), foreign keys pointing at rows that exist, blog rows included. Its
statements are the learner's like any other: listed and counted.
"""

from __future__ import annotations

import ast
import datetime
import decimal
import random
import traceback
import uuid
from typing import Any

from django.apps import apps
from django.core import checks
from django.db import connection, models
from django.utils.text import slugify
from faker import Faker

from sandbox.worker import wire

MODELS_FILENAME = "<models>"
MODULE = "sandbox.worker.playground.models"  # models defined here belong to the playground app
APP_LABEL = "playground"
FILL_MAX = 20_000  # rows one fill() call may make
FILL_BATCH = 1_000


class ModelsError(Exception):
    """What is wrong with the models source, and on which line of it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


def _top_level_names(tree: ast.Module) -> dict[str, int]:
    """Each name the models source binds at its top level (imports aside), with the line that binds it."""
    names: dict[str, int] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.setdefault(node.name, node.lineno)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names.setdefault(name.id, node.lineno)
    return names


def _line_of(exc: BaseException) -> int | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == MODELS_FILENAME]
    return frames[-1].lineno if frames else None


def define(source: str, compiled: Any, names: dict[str, Any], *, max_models: int) -> list[type[models.Model]]:
    """Run the models source into ``names``; its model classes, checked. Raises ``ModelsError``."""
    tree = ast.parse(source, MODELS_FILENAME)
    bound = _top_level_names(tree)
    provided = {name for name, value in names.items() if isinstance(value, type)} | {"models", "fill"}
    for name, line in sorted(bound.items(), key=lambda item: item[1]):
        if name in provided:
            raise ModelsError(
                f"{name} is already a name here (a blog model, or one of Django's or QueryLab's); "
                "give yours another name.",
                line,
            )
    if sum(isinstance(node, ast.ClassDef) for node in tree.body) > max_models:
        raise ModelsError(f"Define at most {max_models} models in one run.")
    names["__name__"] = MODULE
    try:
        exec(compiled, names)
    except MemoryError:
        raise
    except Exception as exc:
        raise ModelsError(
            f"Your models raised {type(exc).__name__}: {exc}".rstrip(": "), _line_of(exc)
        ) from None
    finally:
        names["__name__"] = "__main__"
    own = list(apps.get_app_config(APP_LABEL).get_models())
    if len(own) > max_models:
        raise ModelsError(f"Define at most {max_models} models in one run.")
    for model in own:
        problems = [m for m in model.check() if m.level >= checks.ERROR]
        if problems:
            raise ModelsError(f"{model.__name__}: {problems[0].msg}", bound.get(model.__name__))
    return own


def schema_sql(own: list[type[models.Model]]) -> list[str]:
    """The statements that make the models' tables and indexes, compiled, not run."""
    editor = connection.schema_editor(collect_sql=True)
    editor.deferred_sql = []  # what __enter__ would set: the editor is never entered, so nothing runs here
    for model in own:
        editor.create_model(model)
    return [str(sql).rstrip(";") for sql in [*editor.collected_sql, *editor.deferred_sql]]


def describe(model: type[models.Model]) -> dict[str, Any]:
    """A model as plain data for the diagram: its name, table, fields and relations."""
    fields = []
    for field in model._meta.get_fields():
        if field.auto_created and not field.concrete:
            continue  # reverse relations: drawn from the other side
        related = field.related_model if field.is_relation else None
        fields.append(
            {
                "name": field.name,
                "type": type(field).__name__,
                "to": related._meta.object_name if isinstance(related, type) else None,
                "key": bool(getattr(field, "primary_key", False)),
                "column": getattr(field, "column", None),
            }
        )
    return {
        "name": model._meta.object_name,
        "table": model._meta.db_table,
        "app": model._meta.app_label,
        "fields": fields,
    }


def create_tables(channel: Any, own: list[type[models.Model]]) -> None:
    """Ask the supervisor for the models' tables in the run's database."""
    statements = schema_sql(own)
    channel.call(
        wire.Request(wire.SCHEMA, params={"statements": statements, "models": [describe(m) for m in own]})
    )


# fill()


def _value(field: models.Field[Any, Any], index: int, rng: random.Random, fake: Faker) -> Any:
    if field.choices:
        return rng.choice([value for value, _ in field.flatchoices])
    if isinstance(field, models.BooleanField):
        return rng.random() < 0.5
    if isinstance(field, models.EmailField):
        return f"{fake.user_name()}{index}@{fake.free_email_domain()}"
    if isinstance(field, models.SlugField):
        return f"{slugify(' '.join(fake.words(2)))}-{index}"[: field.max_length]
    if isinstance(field, models.URLField):
        return f"{fake.url()}{index}"[: field.max_length]
    if isinstance(field, models.UUIDField):
        return uuid.UUID(int=rng.getrandbits(128), version=4)
    if isinstance(field, models.CharField):
        text = (
            f"{fake.sentence(nb_words=3).rstrip('.')} {index}" if field.unique else fake.sentence(nb_words=4)
        )
        return text[: field.max_length]
    if isinstance(field, models.TextField):
        return fake.paragraph(nb_sentences=3)
    if isinstance(field, models.DateTimeField):
        return datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            seconds=rng.randrange(63_072_000)
        )
    if isinstance(field, models.DateField):
        return datetime.date(2024, 1, 1) + datetime.timedelta(days=rng.randrange(730))
    if isinstance(field, models.DurationField):
        return datetime.timedelta(minutes=rng.randrange(1, 600))
    if isinstance(field, models.DecimalField):
        digits = max(0, (field.max_digits or 8) - (field.decimal_places or 0) - 1)
        scale = decimal.Decimal(1).scaleb(-(field.decimal_places or 0))
        return decimal.Decimal(rng.uniform(0, min(10**digits, 10_000))).quantize(scale)
    if isinstance(field, models.FloatField):
        return round(rng.uniform(0, 1000), 3)
    if isinstance(field, models.SmallIntegerField | models.PositiveSmallIntegerField):
        return rng.randrange(0, 1000)
    if isinstance(field, models.IntegerField | models.BigIntegerField):
        return index if field.unique else rng.randrange(0, 100_000)
    if isinstance(field, models.JSONField):
        return {"n": index, "tag": fake.word()}
    if isinstance(field, models.BinaryField):
        return rng.randbytes(16)
    if isinstance(field, models.GenericIPAddressField):
        return fake.ipv4()
    raise TypeError(
        f"fill() cannot make values for {type(field).__name__} {field.name!r}; create those rows yourself"
    )


def make_fill(seed: int) -> Any:
    """The ``fill`` learner code calls: deterministic for the dataset's ``seed``."""

    def fill(model: type[models.Model], n: int = 100) -> int:
        """Create ``n`` rows of ``model`` (one of your own models), related rows included by key. Returns ``n``."""
        if not (
            isinstance(model, type) and issubclass(model, models.Model) and model._meta.app_label == APP_LABEL
        ):
            raise TypeError("fill() takes one of your own models, defined in the Models editor")
        if not 0 < int(n) <= FILL_MAX:
            raise ValueError(f"fill() makes between 1 and {FILL_MAX:,} rows at a time")
        label = model._meta.label_lower
        rng = random.Random(f"{seed}:{label}")
        fake = Faker("en_US")
        fake.seed_instance(rng.getrandbits(32))
        targets: dict[str, list[Any]] = {}
        rows = []
        concrete = [
            f
            for f in model._meta.concrete_fields
            if not (
                isinstance(f, models.AutoField)
                or getattr(f, "auto_now", False)
                or getattr(f, "auto_now_add", False)
            )
        ]
        for field in concrete:
            if field.is_relation and field.related_model is not None:
                keys = list(
                    field.related_model._default_manager.order_by("pk").values_list("pk", flat=True)[
                        :FILL_MAX
                    ]
                )
                if not keys and not field.null:
                    raise ValueError(
                        f"{model.__name__}.{field.name} points at {field.related_model.__name__}, which has no rows yet: fill it first"
                    )
                targets[field.name] = keys
        for index in range(int(n)):
            values: dict[str, Any] = {}
            for field in concrete:
                if field.is_relation:
                    keys = targets.get(field.name) or []
                    if field.one_to_one or field.unique:
                        values[field.attname] = keys[index] if index < len(keys) else None
                    else:
                        values[field.attname] = rng.choice(keys) if keys else None
                    continue
                if field.has_default():
                    continue  # its default, as Django would give it
                values[field.attname] = _value(field, index, rng, fake)
            rows.append(model(**values))
        model._default_manager.bulk_create(rows, batch_size=FILL_BATCH)
        for m2m in model._meta.many_to_many:
            target_model: Any = m2m.related_model
            target_keys = list(
                target_model._default_manager.order_by("pk").values_list("pk", flat=True)[:FILL_MAX]
            )
            if not target_keys:
                continue
            through: Any = m2m.remote_field.through
            source_name, target_name = m2m.m2m_field_name(), m2m.m2m_reverse_field_name()
            own_keys = list(model._default_manager.order_by("-pk").values_list("pk", flat=True)[: int(n)])
            links = [
                through(**{f"{source_name}_id": key, f"{target_name}_id": target})
                for key in own_keys
                for target in rng.sample(target_keys, k=min(len(target_keys), rng.randint(1, 3)))
            ]
            through._default_manager.bulk_create(links, batch_size=FILL_BATCH)
        return int(n)

    return fill
