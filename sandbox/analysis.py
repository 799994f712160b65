"""What the captured statements say: duplicates, similar statements, and N+1 findings.

Everything here works on the JSON form of captured queries (``sql``, ``params``,
``line``, ``control``), so it runs in the web process on a worker's answer. The
relation behind an N+1 is read from the SQL itself against the blog's model
metadata: which table is loaded, by which column, after which driving query.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from django.apps import apps
from django.db import models

# A statement repeated this many times from one line is an N+1.
N_PLUS_ONE_MIN = 3

_IN_LIST = re.compile(r"IN \((?:%s|\?)(?:, (?:%s|\?))*\)", re.IGNORECASE)
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w\"])-?\d+(?:\.\d+)?\b")
_FROM = re.compile(r'\bFROM "(\w+)"', re.IGNORECASE)
_JOIN = re.compile(r'\bJOIN "(\w+)"', re.IGNORECASE)
_EQ_PARAM = re.compile(r'"(\w+)"\."(\w+)" = (?:%s|\?)')
_SELECT_LIST = re.compile(r"^\s*SELECT (.*?) FROM ", re.IGNORECASE | re.DOTALL)
_COLUMN = re.compile(r'"(\w+)"\."(\w+)"')
_WHERE = re.compile(r"\bWHERE (.*?)(?:\bORDER BY\b|\bLIMIT\b|\bGROUP BY\b|$)", re.IGNORECASE | re.DOTALL)
_VALUES_ROWS = re.compile(r"\)\s*,\s*\(")


def shape(sql: str) -> str:
    """The statement with its values taken out: equal shapes mean "similar"."""
    sql = _STRING.sub("?", sql)
    sql = _IN_LIST.sub("IN (…)", sql)
    return _NUMBER.sub("?", sql)


@dataclass(frozen=True)
class Finding:
    kind: str
    line: int | None
    count: int
    relation: str
    fix: str
    message: str
    sql: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Group:
    """Statements that share a shape, in the order they first ran."""

    shape: str
    indexes: list[int]
    duplicates: int  # statements identical (SQL and params) to an earlier one

    @property
    def count(self) -> int:
        return len(self.indexes)


def groups(queries: Sequence[dict[str, Any]]) -> list[Group]:
    by_shape: dict[str, Group] = {}
    seen: set[tuple[str, str]] = set()
    for i, query in enumerate(queries):
        if query.get("control"):
            continue
        key = shape(query["sql"])
        group = by_shape.setdefault(key, Group(key, [], 0))
        group.indexes.append(i)
        exact = (query["sql"], repr(query.get("params")))
        if exact in seen:
            group.duplicates += 1
        seen.add(exact)
    return list(by_shape.values())


@dataclass(frozen=True)
class _Relation:
    model: type[models.Model]  # the model holding the accessor
    accessor: str  # e.g. "author", "tags", "comments"
    many: bool


@cache
def _tables() -> dict[str, type[models.Model]]:
    tables: dict[str, type[models.Model]] = {}
    for model in apps.get_app_config("blog").get_models():
        tables[model._meta.db_table] = model
        for field in model._meta.local_many_to_many:
            tables[field.remote_field.through._meta.db_table] = field.remote_field.through  # type: ignore[union-attr]
    return tables


def _name(model: type[models.Model]) -> str:
    return model._meta.model_name or model.__name__.lower()


def _forward_fk(source: type[models.Model], target: type[models.Model]) -> str | None:
    for field in source._meta.concrete_fields:
        if field.is_relation and field.related_model is target:
            return field.name
    return None


def _fk_by_column(model: type[models.Model], column: str) -> models.Field[Any, Any] | None:
    for field in model._meta.concrete_fields:
        if field.column == column and field.is_relation:
            return field
    return None


def _reverse_accessor(fk: models.Field[Any, Any]) -> str:
    return fk.remote_field.get_accessor_name() or ""  # type: ignore[union-attr]


def _m2m_by_through(through: type[models.Model], column: str) -> _Relation | None:
    """The M2M that ``through`` serves, seen from the side whose column is ``column``."""
    fk = _fk_by_column(through, column)
    if fk is None:
        return None
    for model in _tables().values():
        for field in model._meta.local_many_to_many:
            if field.remote_field.through is not through:  # type: ignore[union-attr]
                continue
            if fk.related_model is model:
                return _Relation(model, field.name, True)
            return _Relation(fk.related_model, field.remote_field.get_accessor_name() or "", True)  # type: ignore[arg-type,union-attr]
    return None


def _driving(queries: Sequence[dict[str, Any]], first: int, group_shape: str) -> dict[str, Any] | None:
    for query in reversed(queries[:first]):
        if not query.get("control") and shape(query["sql"]) != group_shape:
            return query
    return None


def _has_extra_conditions(sql: str) -> bool:
    where = _WHERE.search(sql)
    extra = bool(where and re.search(r"\bAND\b|\bOR\b", where.group(1), re.IGNORECASE))
    return extra or re.search(r"\bORDER BY\b", sql, re.IGNORECASE) is not None


def _quoted(s: str) -> str:
    return f'"{s}"'


def explain(queries: Sequence[dict[str, Any]], group: Group) -> tuple[str, str]:
    """(relation, fix) for a group of repeated statements."""
    sql = queries[group.indexes[0]]["sql"]
    head = sql.lstrip().split(None, 1)[0].upper()
    tables = _tables()
    table_match = _FROM.search(sql) if head in {"SELECT", "DELETE"} else None
    if head == "UPDATE":
        table = re.match(r'\s*UPDATE "(\w+)"', sql)
        name = _name(tables[table.group(1)]) if table and table.group(1) in tables else "row"
        return f"{name}.save() in a loop", "use update() with F() expressions, or bulk_update()"
    if head == "INSERT":
        table = re.match(r'\s*INSERT INTO "(\w+)"', sql)
        name = tables[table.group(1)].__name__ if table and table.group(1) in tables else "Model"
        return (
            f"{name}.objects.create() in a loop",
            "build the objects first, then bulk_create() them",
        )
    if head == "DELETE":
        return "delete() in a loop", "filter the rows and delete() the queryset once"
    if not table_match or table_match.group(1) not in tables:
        return "a repeated query", "fetch the rows in one query, e.g. filter(pk__in=...)"
    model = tables[table_match.group(1)]
    is_count = re.match(r"\s*SELECT COUNT\(", sql, re.IGNORECASE) is not None
    is_exists = re.match(r'\s*SELECT 1 AS "a"', sql, re.IGNORECASE) is not None
    extra = _has_extra_conditions(sql)

    # Through an M2M link table: article.tags.all(), tag.articles.all()
    for joined in _JOIN.findall(sql):
        through = tables.get(joined)
        if through is None or not through._meta.auto_created:
            continue
        for table, column in _EQ_PARAM.findall(sql):
            if table == joined:
                relation = _m2m_by_through(through, column)
                if relation:
                    return _many(relation, is_count, is_exists, extra, model)

    for table, column in _EQ_PARAM.findall(sql):
        if table != model._meta.db_table:
            continue
        if column == model._meta.pk.column:
            return _by_primary_key(queries, group, sql, model)
        fk = _fk_by_column(model, column)
        if fk is not None:  # a reverse FK: article.comments.all()
            parent = fk.related_model
            relation = _Relation(parent, _reverse_accessor(fk), True)  # type: ignore[arg-type]
            return _many(relation, is_count, is_exists, extra, model)
    return "a repeated query", "fetch the rows in one query, e.g. filter(pk__in=...)"


def _many(
    relation: _Relation, is_count: bool, is_exists: bool, extra: bool, target: type[models.Model]
) -> tuple[str, str]:
    owner = _name(relation.model)
    name = relation.accessor
    if is_count:
        return f"{owner}.{name}.count()", f'annotate({name}_count=Count("{name}"))'
    if is_exists:
        return (
            f"{owner}.{name}.exists()",
            f'annotate(has_{name}=Exists(...)) or prefetch_related("{name}")',
        )
    if extra:
        return (
            f"{owner}.{name}.filter()",
            f'prefetch_related(Prefetch("{name}", queryset={target.__name__}.objects.filter(...), '
            f'to_attr="..."))',
        )
    return f"{owner}.{name}.all()", f'prefetch_related("{name}")'


def _by_primary_key(
    queries: Sequence[dict[str, Any]], group: Group, sql: str, model: type[models.Model]
) -> tuple[str, str]:
    select = _SELECT_LIST.search(sql)
    columns = {c for _, c in _COLUMN.findall(select.group(1))} if select else set()
    all_columns = {f.column for f in model._meta.concrete_fields}
    loaded = columns - {model._meta.pk.column}
    if columns and columns < all_columns and loaded:
        fields = ", ".join(_quoted(c) for c in sorted(loaded))
        return (
            f"{_name(model)}.{sorted(loaded)[0]} (deferred)",
            f"add {fields} to only(), or take it out of defer()",
        )
    driving = _driving(queries, group.indexes[0], group.shape)
    driving_table = _FROM.search(driving["sql"]) if driving else None
    source = _tables().get(driving_table.group(1)) if driving_table else None
    field_name = _forward_fk(source, model) if source else None
    if source is None or field_name is None:
        for candidate in _tables().values():
            field_name = _forward_fk(candidate, model)
            if field_name:
                source = candidate
                break
    if source is None or field_name is None:
        return f"{_name(model)} by primary key", "fetch the rows in one query, e.g. in_bulk()"
    relation = f"{_name(source)}.{field_name}"
    if driving is not None and _IN_LIST.search(driving["sql"]):
        # The rows that trigger it came from a prefetch: fix it inside the Prefetch.
        for table, column in re.findall(r'"(\w+)"\."(\w+)" IN \(', driving["sql"]):
            fk = _fk_by_column(source, column) if table == source._meta.db_table else None
            if fk is not None:
                accessor = _reverse_accessor(fk)
                return relation, (
                    f'Prefetch("{accessor}", queryset={source.__name__}.objects'
                    f'.select_related("{field_name}"))'
                )
    return relation, f"select_related({_quoted(field_name)})"


def _is_batch(sql: str) -> bool:
    """One statement of a bulk operation (an IN list or multi-row VALUES), not a loop."""
    head = sql.lstrip()[:6].upper()
    if head == "INSERT":
        return _VALUES_ROWS.search(sql) is not None
    if _IN_LIST.search(sql) is None:
        return False
    # bulk_update and batched deletes always carry an IN list; a SELECT with one
    # is a prefetch or a chunk unless it is also keyed on a single row.
    return head != "SELECT" or _EQ_PARAM.search(sql) is None


def findings(queries: Sequence[dict[str, Any]]) -> list[Finding]:
    """N+1 findings: a statement shape repeated from one line, with its fix."""
    result: list[Finding] = []
    for group in groups(queries):
        if group.count < N_PLUS_ONE_MIN:
            continue
        per_line: dict[int | None, list[int]] = defaultdict(list)
        for i in group.indexes:
            per_line[queries[i].get("line")].append(i)
        for line, indexes in per_line.items():
            if len(indexes) < N_PLUS_ONE_MIN or _is_batch(queries[indexes[0]]["sql"]):
                continue
            sub = Group(group.shape, indexes, 0)
            relation, fix = explain(queries, sub)
            verb = "" if fix.startswith(("add ", "use ", "build ", "filter ", "fetch ")) else "add "
            where = f"line {line}" if line else "your code"
            result.append(
                Finding(
                    kind="n_plus_one",
                    line=line,
                    count=len(indexes),
                    relation=relation,
                    fix=fix,
                    message=f"{where} runs {len(indexes)} similar queries ({relation}): {verb}{fix}",
                    sql=group.shape,
                )
            )
    return result


def fold(queries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive identical statements folded into one entry with a count (×N)."""
    folded: list[dict[str, Any]] = []
    for query in queries:
        last = folded[-1] if folded else None
        if last and last["sql"] == query["sql"] and last.get("params") == query.get("params"):
            last["times"] += 1
            last["ms"] += query["ms"]
            continue
        folded.append({**query, "times": 1})
    return folded
