"""Filters for the shared query panel: folded statements, formatted and highlighted SQL."""

from typing import Any

import sqlparse
from django import template
from django.utils.safestring import SafeString
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import SqlLexer

from sandbox import analysis
from sandbox.contract import Query

register = template.Library()
MAX_SHOWN = 200


@register.filter
def folded(queries: list[Query] | list[dict[str, Any]]) -> dict[str, Any]:
    """Consecutive identical statements as one entry with ``times``: the first MAX_SHOWN
    (``shown``) and how many entries that leaves out (``hidden``). A shared snippet's
    stored result holds them as JSON."""
    entries = analysis.fold(q if isinstance(q, Query) else Query.from_json(q) for q in queries)
    return {"shown": entries[:MAX_SHOWN], "hidden": max(0, len(entries) - MAX_SHOWN)}


@register.filter
def sql_html(sql: str) -> SafeString:
    pretty = sqlparse.format(sql, reindent=True, keyword_case="upper", wrap_after=100)
    return SafeString(highlight(pretty, SqlLexer(), HtmlFormatter(cssclass="highlight sql")))


@register.filter
def statement(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's SQL as shown: its values filled in, long IN and VALUES lists cut (``cut``: how many), highlighted."""
    sql = entry.get("filled") or entry["sql"]
    short, cut = analysis.shorten_lists(sql)
    return {"html": sql_html(short), "cut": cut, "full": sql}


@register.filter
def ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


@register.filter
def get_item(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)
