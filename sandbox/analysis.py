"""What the captured statements say: duplicates, similar statements, and N+1 findings.

Everything here works on the JSON form of captured queries (``sql``, ``params``,
``line``, ``control``), so it runs in the web process on a worker's answer. The
relation behind an N+1 is read from the SQL itself against the blog's model
metadata: which table is loaded, by which column, after which driving query.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import apps
from django.db import models

from sandbox.contract import Finding, Query

# A statement repeated this many times from one line is an N+1; this many, from any lines.
N_PLUS_ONE_MIN = 3
SCATTERED_MIN = 2 * N_PLUS_ONE_MIN

_IN_LIST = re.compile(r"IN \((?:%s|\?)(?:, (?:%s|\?))*\)", re.IGNORECASE)
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w\"])-?\d+(?:\.\d+)?\b")
_FROM = re.compile(r'\bFROM "(\w+)"', re.IGNORECASE)
_JOIN = re.compile(r'\bJOIN "(\w+)"', re.IGNORECASE)
_EQ_PARAM = re.compile(r'"(\w+)"\."(\w+)" = (?:%s|\?)')
_SELECT_LIST = re.compile(r"^\s*SELECT (.*?) FROM ", re.IGNORECASE | re.DOTALL)
_COLUMN = re.compile(r'"(\w+)"\."(\w+)"')
_FIRST_UNALIASED = re.compile(r'\s*(?:DISTINCT\s+)?"\w+"\."\w+"(?!\s+AS\b)\s*(?:,|$)', re.IGNORECASE)
_WHERE = re.compile(r"\bWHERE (.*?)(?:\bORDER BY\b|\bLIMIT\b|\bGROUP BY\b|$)", re.IGNORECASE | re.DOTALL)
_INSERT_INTO = re.compile(r'\s*INSERT\s+(?:OR\s+\w+\s+)?INTO "(\w+)"', re.IGNORECASE)
_VALUES_ROWS = re.compile(r"\)\s*,\s*\(")
_IN_PLACEHOLDERS = re.compile(r"\bIN \(((?:%s|\?)(?:, (?:%s|\?))*)\)", re.IGNORECASE)
# EXISTS() and QuerySet.exists() select a constant: a literal 1 or a parameter.
_EXISTS = re.compile(r'\s*SELECT (?:1|%s|\?) AS "a"', re.IGNORECASE)


def shape(sql: str) -> str:
    """The statement with its values taken out: equal shapes mean "similar".

    Literals become ``?`` first, so an IN list of literals of any length folds
    to ``IN (…)`` just like a list of placeholders.
    """
    sql = _STRING.sub("?", sql)
    sql = _NUMBER.sub("?", sql)
    return _IN_LIST.sub("IN (…)", sql)


def selected_columns(sql: str) -> set[str]:
    """The ``table.column`` names in the statement's own SELECT list (not in its subqueries' FROM parts)."""
    select = _SELECT_LIST.search(sql)
    return {f"{table}.{column}" for table, column in _COLUMN.findall(select.group(1))} if select else set()


def builds_instances(sql: str, table: str) -> bool:
    """Whether Django makes model instances of ``table`` from this statement's rows.

    A model query's SELECT list starts with its model's columns, unaliased, primary
    key first; ``values()`` names every column it selects (``"t"."email" AS "email"``),
    and DISTINCT's ordering columns, unaliased, only follow those.
    """
    select = _SELECT_LIST.search(sql)
    if not select:
        return False
    columns = select.group(1)
    if not _FIRST_UNALIASED.match(columns):
        return False
    model = _tables().get(table)
    column = model._meta.pk.column if model is not None else "id"
    return re.search(rf'"{table}"\."{column}"(?!\s+AS\b)', columns) is not None


def searches_index(plan: str, index: str) -> bool:
    """Whether a plan narrows its reads with ``index``, not only walks it from end to end.

    SQLite says ``SEARCH t USING [COVERING] INDEX i (a=? AND b>?)`` (``SCAN t USING
    INDEX i`` reads all of it); PostgreSQL gives an index node an ``Index Cond``.
    """
    if re.search(rf"\bSEARCH \w+ USING (?:COVERING )?INDEX {re.escape(index)}\b", plan):
        return True
    lines = plan.splitlines()
    for number, line in enumerate(lines):
        if re.search(rf"Index (?:Only )?Scan(?: Backward)? (?:using|on) {re.escape(index)}\b", line):
            following = lines[number + 1 : number + 4]
            return any("Index Cond:" in later for later in following)
    return False


def reads(sql: str, table: str) -> bool:
    """Whether ``sql`` is a SELECT whose FROM or JOIN names ``table``."""
    if sql.lstrip()[:6].upper() != "SELECT":
        return False
    return table in _FROM.findall(sql) or table in _JOIN.findall(sql)


@dataclass
class Group:
    """Statements that share a shape, in the order they first ran."""

    shape: str
    indexes: list[int]
    duplicates: int  # statements identical (SQL and params) to an earlier one

    @property
    def count(self) -> int:
        return len(self.indexes)


def groups(queries: Sequence[Query]) -> list[Group]:
    by_shape: dict[str, Group] = {}
    seen: set[tuple[str, str]] = set()
    for i, query in enumerate(queries):
        if query.control:
            continue
        key = shape(query.sql)
        group = by_shape.setdefault(key, Group(key, [], 0))
        group.indexes.append(i)
        exact = (query.sql, repr(query.params))
        if exact in seen:
            group.duplicates += 1
        seen.add(exact)
    return list(by_shape.values())


@dataclass(frozen=True)
class _Relation:
    model: type[models.Model]  # the model holding the accessor
    accessor: str  # e.g. "author", "tags", "comments"
    many: bool
    target: type[models.Model]  # the model the accessor returns rows of
    lookup: str  # the filter on ``target`` that selects one owner's rows, e.g. "article"


@cache
def _tables() -> dict[str, type[models.Model]]:
    tables: dict[str, type[models.Model]] = {}
    for model in apps.get_app_config("blog").get_models():
        tables[model._meta.db_table] = model
        for field in model._meta.local_many_to_many:
            tables[field.remote_field.through._meta.db_table] = field.remote_field.through  # type: ignore[union-attr,assignment]
    return tables


def _name(model: type[models.Model]) -> str:
    return model._meta.model_name or model.__name__.lower()


def _fk_to(source: type[models.Model], target: type[models.Model]) -> models.Field[Any, Any] | None:
    for field in source._meta.concrete_fields:
        if field.is_relation and field.related_model is target:
            return field
    return None


def _fk_by_column(model: type[models.Model], column: str) -> models.Field[Any, Any] | None:
    for field in model._meta.concrete_fields:
        if field.column == column and field.is_relation:
            return field
    return None


def _reverse_accessor(fk: models.Field[Any, Any]) -> str:
    return fk.remote_field.get_accessor_name() or ""  # type: ignore[union-attr]


def _reverse_fk_relation(fk: models.Field[Any, Any]) -> _Relation:
    """``parent.<related_name>`` for the FK ``fk`` that points at ``parent``."""
    return _Relation(fk.related_model, _reverse_accessor(fk), True, fk.model, fk.name)  # type: ignore[arg-type]


def _m2m_served_by(through: type[models.Model]) -> tuple[type[models.Model], Any] | None:
    """The model and the ManyToManyField whose link table is ``through``."""
    for model in _tables().values():
        for field in model._meta.local_many_to_many:
            if field.remote_field.through is through:
                return model, field
    return None


def _m2m_by_through(through: type[models.Model], column: str) -> _Relation | None:
    """The M2M that ``through`` serves, seen from the side whose column is ``column``."""
    fk = _fk_by_column(through, column)
    served = _m2m_served_by(through)
    if fk is None or served is None:
        return None
    model, field = served
    if fk.related_model is model:  # article.tags
        return _Relation(model, field.name, True, field.related_model, field.related_query_name())
    # the reverse side: tag.articles
    return _Relation(fk.related_model, _reverse_accessor(field), True, model, field.name)  # type: ignore[arg-type]


def _earlier_selects(queries: Sequence[Query], group: Group) -> Iterator[Query]:
    """The SELECTs before ``group``'s first statement, nearest first, except its own shape."""
    for query in reversed(queries[: group.indexes[0]]):
        sql = query.sql
        if query.control or sql.lstrip()[:6].upper() != "SELECT" or shape(sql) == group.shape:
            continue
        yield query


def _driving(
    queries: Sequence[Query], group: Group, model: type[models.Model]
) -> tuple[Query, type[models.Model], str] | None:
    """The SELECT whose rows hold the FK that ``group`` follows to ``model``.

    The nearest earlier SELECT, of another shape, that loaded rows holding a
    foreign key to ``model`` (its column is in the select list). Statements in
    between that cannot be the source are skipped: a sibling relation loaded in
    the same loop, a count() or exists() on the same table, writes, transaction
    control.
    """
    tables = _tables()
    for query in _earlier_selects(queries, group):
        sql = query.sql
        table = _FROM.search(sql)
        source = tables.get(table.group(1)) if table else None
        fk = _fk_to(source, model) if source else None
        select = _SELECT_LIST.search(sql)
        if source is None or fk is None or select is None:
            continue
        if f'"{source._meta.db_table}"."{fk.column}"' in select.group(1):
            return query, source, fk.name
    return None


def _has_extra_conditions(sql: str) -> bool:
    where = _WHERE.search(sql)
    extra = bool(where and re.search(r"\bAND\b|\bOR\b", where.group(1), re.IGNORECASE))
    return extra or re.search(r"\bORDER BY\b", sql, re.IGNORECASE) is not None


def _quoted(s: str) -> str:
    return f'"{s}"'


def _own_relation(
    queries: Sequence[Query], group: Group, sql: str, own: Sequence[dict[str, Any]]
) -> tuple[str, str] | None:
    """A learner's own model's foreign key followed row by row, found from their models' description.

    The web process has no class for those models, only what the run described
    (``RunResult.models``): each table and its fields' columns and targets.
    """
    found = _FROM.search(sql)
    if found is None:
        return None
    table = found.group(1)
    blog = _tables().get(table)
    target = (
        blog.__name__ if blog is not None else next((m["name"] for m in own if m["table"] == table), None)
    )
    if target is None or not any(t == table for t, _ in _EQ_PARAM.findall(sql)):
        return None
    for query in _earlier_selects(queries, group):
        source_table = _FROM.search(query.sql)
        source = next((m for m in own if source_table and m["table"] == source_table.group(1)), None)
        if source is None:
            continue
        for field in source["fields"]:
            column = field.get("column")
            if field.get("to") == target and column and f'"{source["table"]}"."{column}"' in query.sql:
                return (
                    f"{source['name'].lower()}.{field['name']}",
                    f"select_related({_quoted(field['name'])})",
                )
    return None


def explain(queries: Sequence[Query], group: Group, own: Sequence[dict[str, Any]] = ()) -> tuple[str, str]:
    """(relation, fix) for a group of repeated statements; ``own`` describes the learner's own models."""
    sql = queries[group.indexes[0]].sql
    head = sql.lstrip().split(None, 1)[0].upper()
    if own and head == "SELECT" and (mine := _own_relation(queries, group, sql, own)) is not None:
        return mine
    tables = _tables()
    table_match = _FROM.search(sql) if head in {"SELECT", "DELETE"} else None
    if head == "UPDATE":
        table = re.match(r'\s*UPDATE "(\w+)"', sql)
        name = _name(tables[table.group(1)]) if table and table.group(1) in tables else "row"
        return f"{name}.save() in a loop", "use update() with F() expressions, or bulk_update()"
    if head == "INSERT":
        table = _INSERT_INTO.match(sql)
        inserted = tables.get(table.group(1)) if table else None
        served = _m2m_served_by(inserted) if inserted is not None and inserted._meta.auto_created else None
        if served is not None:  # an M2M link: add() in a loop
            model, field = served
            return (
                f"{_name(model)}.{field.name}.add() in a loop",
                f"build the links first, then {model.__name__}.{field.name}.through.objects.bulk_create() them",
            )
        name = inserted.__name__ if inserted is not None else "Model"
        return (
            f"{name}.objects.create() in a loop",
            "build the objects first, then bulk_create() them",
        )
    if head == "DELETE":
        name = (
            _name(tables[table_match.group(1)]) if table_match and table_match.group(1) in tables else "row"
        )
        return f"{name}.delete() in a loop", "filter the rows and delete() the queryset once"
    if not table_match or table_match.group(1) not in tables:
        return "a repeated query", "fetch the rows in one query, e.g. filter(pk__in=...)"
    model = tables[table_match.group(1)]
    is_count = re.match(r"\s*SELECT COUNT\(", sql, re.IGNORECASE) is not None
    is_exists = _EXISTS.match(sql) is not None
    extra = _has_extra_conditions(sql)

    # Through an M2M link table: article.tags.all(), tag.articles.all(), or the
    # link table alone, which is all that count() and exists() read.
    link_tables = [table_match.group(1), *_JOIN.findall(sql)]
    for link in link_tables:
        through = tables.get(link)
        if through is None or not through._meta.auto_created:
            continue
        for table, column in _EQ_PARAM.findall(sql):
            if table == link:
                relation = _m2m_by_through(through, column)
                if relation:
                    return _many(relation, is_count, is_exists, extra)

    for table, column in _EQ_PARAM.findall(sql):
        if table != model._meta.db_table:
            continue
        if column == model._meta.pk.column:
            return _by_primary_key(queries, group, sql, model)
        fk = _fk_by_column(model, column)
        if fk is not None:  # a reverse FK: article.comments.all()
            return _many(_reverse_fk_relation(fk), is_count, is_exists, extra)
    if is_count:  # the same count() with other values: one grouped query answers them all
        return (
            f"{model.__name__}.objects.filter(...).count() in a loop",
            'fetch every count in one query: values(...).annotate(n=Count("pk"))',
        )
    return "a repeated query", "fetch the rows in one query, e.g. filter(pk__in=...)"


def _many(relation: _Relation, is_count: bool, is_exists: bool, extra: bool) -> tuple[str, str]:
    owner = _name(relation.model)
    name = relation.accessor
    target = relation.target.__name__
    if is_count and extra:
        return (
            f"{owner}.{name}.filter().count()",
            f'annotate({name}_count=Count("{name}", filter=Q(...)))',
        )
    if is_count:
        return f"{owner}.{name}.count()", f'annotate({name}_count=Count("{name}"))'
    if is_exists:
        conditions = ", ..." if extra else ""
        return (
            f"{owner}.{name}{'.filter()' if extra else ''}.exists()",
            f"annotate(has_{name}=Exists({target}.objects.filter("
            f'{relation.lookup}=OuterRef("pk"){conditions})))',
        )
    if extra:
        return (
            f"{owner}.{name}.filter()",
            f'prefetch_related(Prefetch("{name}", queryset={target}.objects.filter(...), to_attr="..."))',
        )
    return f"{owner}.{name}.all()", f'prefetch_related("{name}")'


def _deferred_by(
    queries: Sequence[Query], group: Group, model: type[models.Model], columns: set[str]
) -> bool:
    """Whether an earlier SELECT loaded ``model`` rows without ``columns`` (only()/defer()).

    A deferred field loads with the same SQL as ``only(...).get(pk=...)``; only
    the query that left the field out tells the two apart.
    """
    table = model._meta.db_table
    for query in _earlier_selects(queries, group):
        sql = query.sql
        source = _FROM.search(sql)
        select = _SELECT_LIST.search(sql)
        if source is None or select is None or source.group(1) != table:
            continue
        selected = {c for t, c in _COLUMN.findall(select.group(1)) if t == table}
        if model._meta.pk.column in selected and not columns & selected:
            return True
    return False


def _by_primary_key(
    queries: Sequence[Query], group: Group, sql: str, model: type[models.Model]
) -> tuple[str, str]:
    select = _SELECT_LIST.search(sql)
    columns = {c for _, c in _COLUMN.findall(select.group(1))} if select else set()
    all_columns = {f.column for f in model._meta.concrete_fields}
    loaded = columns - {model._meta.pk.column}
    if columns and columns < all_columns and loaded and _deferred_by(queries, group, model, loaded):
        by_column = {f.column: f.name for f in model._meta.concrete_fields}
        names = sorted(by_column.get(c, c) for c in loaded)
        fields = ", ".join(_quoted(n) for n in names)
        return (
            f"{_name(model)}.{names[0]} (deferred)",
            f"add {fields} to only(), or take it out of defer()",
        )
    found = _driving(queries, group, model)
    if found is None:  # no earlier rows point here: get(pk=...) in a loop
        return (
            f"{model.__name__}.objects.get(pk=...) in a loop",
            f"fetch the rows in one query: {model.__name__}.objects.in_bulk(ids)",
        )
    driving, source, field_name = found
    relation = f"{_name(source)}.{field_name}"
    if _IN_LIST.search(driving.sql):
        # The rows that trigger it came from a prefetch: fix it inside the Prefetch.
        for table, column in re.findall(r'"(\w+)"\."(\w+)" IN \(', driving.sql):
            fk = _fk_by_column(source, column) if table == source._meta.db_table else None
            if fk is not None:
                accessor = _reverse_accessor(fk)
                return relation, (
                    f'Prefetch("{accessor}", queryset={source.__name__}.objects'
                    f'.select_related("{field_name}"))'
                )
    return relation, f"select_related({_quoted(field_name)})"


def _is_batch(statements: Sequence[str]) -> bool:
    """Statements of one bulk operation (IN lists, multi-row VALUES), not a loop.

    bulk_create(batch_size=...) sends multi-row INSERTs and bulk_update() UPDATEs
    keyed on an IN list; only the last batch may hold a single row. A SELECT with
    an IN list is a prefetch or a chunk unless it is also keyed on a single row.
    An UPDATE or DELETE whose IN lists all hold one row (``obj.delete()`` in a
    loop) is row by row.
    """
    head = statements[0].lstrip()[:6].upper()
    if head == "INSERT":
        return any(_VALUES_ROWS.search(sql) for sql in statements)
    if head == "SELECT":
        return _IN_LIST.search(statements[0]) is not None and _EQ_PARAM.search(statements[0]) is None
    return any("," in in_list for sql in statements for in_list in _IN_PLACEHOLDERS.findall(sql))


def findings(queries: Sequence[Query], own: Sequence[dict[str, Any]] = ()) -> list[Finding]:
    """N+1 findings: a statement shape repeated from one line, with its fix.

    The line of each statement is the child's word: it places a finding, and
    cannot hide a real one. Statements of one shape that no single line sent
    often enough still make a finding, placed nowhere, once there are
    ``SCATTERED_MIN`` of them (three ``get()`` calls on three lines of honest
    code are no N+1; six from six lines, whatever the lines say, are flagged).
    """
    result: list[Finding] = []
    for group in groups(queries):
        if group.count < N_PLUS_ONE_MIN:
            continue
        per_line: defaultdict[int | None, list[int]] = defaultdict(list)
        for i in group.indexes:
            per_line[queries[i].line].append(i)
        scattered = [i for indexes in per_line.values() if len(indexes) < N_PLUS_ONE_MIN for i in indexes]
        places = [(line, indexes) for line, indexes in per_line.items() if len(indexes) >= N_PLUS_ONE_MIN]
        if len(scattered) >= SCATTERED_MIN:
            places.append((None, sorted(scattered)))
        for line, indexes in places:
            if _is_batch([queries[i].sql for i in indexes]):
                continue
            sub = Group(group.shape, indexes, 0)
            relation, fix = explain(queries, sub, own)
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


# Values listed in a folded entry's label before "...".
LABEL_VALUES = 8
# The column a placeholder is compared with: `"table"."column" = %s`, `"column" IN (%s`, ...
_COMPARED = re.compile(r'"?(\w+)"?\s*(?:=|<>|!=|<=|>=|<|>|\bLIKE|\bIN\s*\()\s*(?:\(\s*)?$', re.IGNORECASE)


def _differs_in(sql: str, params: list[list[Any] | None]) -> str:
    """What tells a run of similar statements apart: the column whose value changes, or their parameters."""
    sizes = {len(p) if p is not None else -1 for p in params}
    first = params[0]
    if len(sizes) != 1 or not first:
        return "their parameters"
    index = next((i for i in range(len(first)) if len({repr(p[i]) for p in params if p}) > 1), None)
    if index is None:
        return "their parameters"
    before = sql.split("%s")[: index + 1]
    column = _COMPARED.search(before[index]) if len(before) > index else None
    values = [str(p[index]) for p in params if p]
    listed = ", ".join(values[:LABEL_VALUES]) + (", ..." if len(values) > LABEL_VALUES else "")
    return f"{column.group(1) if column else f'parameter {index + 1}'}: {listed}"


def fold(queries: Iterable[Query]) -> list[dict[str, Any]]:
    """Statements of one shape sent from one line in a stretch of code, folded into one entry.

    A loop sends its statements interleaved (author, category, author,
    category...): each joins the entry of its shape and line while the loop
    lasts, that is until a statement of no open entry follows a repeat. Same SQL
    with the same parameters are ``identical``; with other parameters they are
    ``similar``, and ``differs`` names what changes ("id: 3, 1, 7, ...").
    ``members`` keeps each one's filled-in SQL, for the panel's "show all".
    Statements from two lines, or with another outcome (an error), never merge.
    """
    folded: list[dict[str, Any]] = []
    open_entries: dict[tuple[Any, ...], dict[str, Any]] = {}
    for query in queries:
        entry = query.to_json()
        key = (entry["sql"], entry["line"], entry["error"], entry["many"], entry["control"])
        same = open_entries.get(key)
        if same is not None:
            same["times"] += 1
            same["ms"] += entry["ms"]
            same["members"].append(entry["filled"] or entry["sql"])
            same["member_params"].append(entry["params"])
            continue
        if any(e["times"] > 1 for e in open_entries.values()):
            open_entries = {}  # the loop is over
        new = {
            **entry,
            "times": 1,
            "members": [entry["filled"] or entry["sql"]],
            "member_params": [entry["params"]],
        }
        folded.append(new)
        open_entries[key] = new
    for entry in folded:
        params = entry.pop("member_params")
        entry["identical"] = all(p == params[0] for p in params)
        entry["differs"] = "" if entry["identical"] else _differs_in(entry["sql"], params)
    return folded


# An IN list longer than this is shown shortened, with its count.
IN_LIST_SHOWN = 6
VALUES_ROWS_SHOWN = 3
_IN_LIST = re.compile(r"\bIN \(((?:'(?:[^']|'')*'|[^()'])*)\)", re.IGNORECASE)
_LIST_ITEM = re.compile(r"'(?:[^']|'')*'|[^,]+")
# One row of a VALUES list: parentheses around values, strings (with their commas and
# parentheses) skipped whole. A row holding parentheses of its own is never cut.
_ROW = r"\((?:'(?:[^']|'')*'|[^()'])*\)"
_VALUES_LIST = re.compile(rf"\bVALUES\s*({_ROW}(?:\s*,\s*{_ROW})+)", re.IGNORECASE)
_VALUES_ROW = re.compile(_ROW)


def shorten_lists(sql: str) -> tuple[str, int]:
    """``sql`` with each long ``IN (...)`` list and each long ``VALUES (...), (...)`` list
    (a ``bulk_create``'s, a ``fill()``'s) cut to its first items, a count and its last;
    how many lists were cut."""
    cut = 0

    def shorten_in(match: re.Match[str]) -> str:
        nonlocal cut
        items = [item.strip() for item in _LIST_ITEM.findall(match.group(1)) if item.strip()]
        if len(items) <= IN_LIST_SHOWN + 2:
            return match.group(0)
        cut += 1
        shown = ", ".join(items[:IN_LIST_SHOWN])
        return f"IN ({shown}, /* ... {len(items) - IN_LIST_SHOWN - 1} more ... */ {items[-1]})"

    def shorten_values(match: re.Match[str]) -> str:
        nonlocal cut
        rows = _VALUES_ROW.findall(match.group(1))
        if len(rows) <= VALUES_ROWS_SHOWN + 2:
            return match.group(0)
        cut += 1
        shown = ", ".join(rows[:VALUES_ROWS_SHOWN])
        return f"VALUES {shown}, /* ... {len(rows) - VALUES_ROWS_SHOWN - 1} more rows ... */ {rows[-1]}"

    return _VALUES_LIST.sub(shorten_values, _IN_LIST.sub(shorten_in, sql)), cut
