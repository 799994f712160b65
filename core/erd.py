"""Entity-relationship diagrams as server-rendered SVG: no script, nothing inline for the CSP to refuse.

An entity is plain data (``sandbox.worker.own_models.describe``): a model's name, its
table and its fields, each with the model it points at, if any. The blog's come from
its models here; a learner's come back with their run, described by the child, and
are drawn like any other text: escaped.
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from blog.models import Article, Author, Category, Comment, Tag
from sandbox.worker.own_models import describe

WIDTH = 210  # of a box
HEAD = 26  # its title bar
ROW = 18  # one field
GAP_X, GAP_Y = 70, 40
MARGIN = 12
RELATIONS = {"ForeignKey": "n–1", "OneToOneField": "1–1", "ManyToManyField": "n–n"}


def blog_entities() -> list[dict[str, Any]]:
    return [describe(model) for model in (Author, Category, Tag, Article, Comment)]


def with_references(own: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A learner's models, and the blog models they point at (drawn after them)."""
    names = {entity["name"] for entity in own}
    wanted = {field["to"] for entity in own for field in entity["fields"] if field.get("to")} - names
    return own + [entity for entity in blog_entities() if entity["name"] in wanted]


def _type(field: dict[str, Any]) -> str:
    kind = str(field.get("type") or "")
    if field.get("to"):
        return f"{RELATIONS.get(kind, kind)} {field['to']}"
    return kind.removesuffix("Field") or kind


def svg(entities: list[dict[str, Any]], title: str) -> SafeString:
    """The diagram of ``entities``: a box per model, a line per relation between two of them."""
    if not entities:
        return mark_safe("")
    columns = max(1, math.ceil(math.sqrt(len(entities))))
    heights = [HEAD + ROW * max(1, len(e["fields"])) + 6 for e in entities]
    rows = math.ceil(len(entities) / columns)
    row_heights = [max(heights[r * columns : (r + 1) * columns]) for r in range(rows)]
    boxes: dict[str, tuple[int, int, int]] = {}  # name -> x, y, height
    parts: list[str] = []
    for index, entity in enumerate(entities):
        row, column = divmod(index, columns)
        x = MARGIN + column * (WIDTH + GAP_X)
        y = MARGIN + sum(row_heights[:row]) + row * GAP_Y
        boxes[entity["name"]] = (x, y, heights[index])
    lines: list[str] = []
    for entity in entities:
        x, y, height = boxes[entity["name"]]
        own = entity.get("app") == "playground"
        parts.append(f'<g class="entity{" own" if own else ""}">')
        parts.append(f'<rect x="{x}" y="{y}" width="{WIDTH}" height="{height}" rx="4"/>')
        parts.append(f'<rect class="head" x="{x}" y="{y}" width="{WIDTH}" height="{HEAD}" rx="4"/>')
        parts.append(f'<text class="name" x="{x + 8}" y="{y + 17}">{escape(entity["name"])}</text>')
        for number, field in enumerate(entity["fields"]):
            fy = y + HEAD + ROW * number + 13
            key = " key" if field.get("key") else ""
            parts.append(f'<text class="field{key}" x="{x + 8}" y="{fy}">{escape(field["name"])}</text>')
            parts.append(
                f'<text class="type" x="{x + WIDTH - 8}" y="{fy}" text-anchor="end">{escape(_type(field))}</text>'
            )
            target = boxes.get(str(field.get("to") or ""))
            if target is None or target == boxes[entity["name"]]:
                continue
            tx, ty, _ = target
            start_x = x + WIDTH if tx > x else x
            end_x = tx if tx > x else tx + WIDTH
            if tx == x:  # one above the other: leave by the right side, come back in
                start_x = end_x = x + WIDTH
            lines.append(
                f'<path class="relation" d="M{start_x} {fy - 4} C{start_x + (40 if start_x >= end_x else 30)} {fy - 4} '
                f'{end_x + (40 if tx == x else (-30 if tx > x else 30))} {ty + HEAD / 2} {end_x} {ty + HEAD / 2}"/>'
                f'<circle class="end" cx="{end_x}" cy="{ty + HEAD / 2}" r="3"/>'
            )
        parts.append("</g>")
    width = MARGIN * 2 + columns * WIDTH + (columns - 1) * GAP_X + 40
    height = MARGIN * 2 + sum(row_heights) + (rows - 1) * GAP_Y
    body = "".join(lines) + "".join(parts)
    return mark_safe(  # noqa: S308 - every piece of text in it is escaped above
        f'<svg class="erd" viewBox="0 0 {width} {height}" width="{width}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )
