"""Friendly early refusals for code that reaches for what a lesson never needs.

This is a layer for clear messages, not the security boundary: the boundary is
the operating system (bubblewrap, rlimits, seccomp) and the database. Code that
slips past these checks still meets those.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

ALLOWED_MODULES = frozenset(
    {
        "collections", "datetime", "decimal", "functools", "itertools", "json", "math",
        "operator", "re", "statistics", "textwrap", "time",
    }
)  # fmt: skip
BLOCKED_NAMES = frozenset(
    {
        "breakpoint", "compile", "delattr", "eval", "exec", "exit", "getattr", "globals",
        "help", "input", "locals", "memoryview", "open", "quit", "setattr", "vars",
    }
)  # fmt: skip
# Attributes that lead from an object to frames, code or globals.
BLOCKED_ATTRIBUTES = frozenset(
    {
        "ag_frame", "cr_frame", "f_back", "f_builtins", "f_code", "f_globals", "f_locals",
        "gi_code", "gi_frame", "gi_yieldfrom", "mro", "tb_frame", "tb_next", "co_code",
        "format_map",
    }
)  # fmt: skip
# "{0.__class__}".format(x) and friends: a format field that walks attributes.
_FORMAT_WALK = re.compile(r"\{[^{}]*[.\[]\s*_")


@dataclass(frozen=True)
class Refusal:
    message: str
    line: int | None


def _imports_models(node: ast.Import | ast.ImportFrom) -> bool:
    """``from django.db import models`` or ``import django.db.models``, and nothing more."""
    if isinstance(node, ast.ImportFrom):
        return node.module == "django.db" and all(a.name == "models" for a in node.names)
    return all(a.name == "django.db.models" for a in node.names)


def check(tree: ast.AST) -> Refusal | None:
    """The first construct in ``tree`` that the sandbox refuses, or None."""
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom) and node.level:
                return Refusal("relative imports are not available here", line)
            if _imports_models(node):  # the first line of any models file: the module code already has
                continue
            for name in names:
                if name.split(".")[0] not in ALLOWED_MODULES:
                    allowed = ", ".join(sorted(ALLOWED_MODULES))
                    return Refusal(
                        f"importing {name!r} is not allowed here; the models and "
                        f"django.db.models names are already defined, and you may import: {allowed}",
                        line,
                    )
        elif isinstance(node, ast.Name):
            if node.id.startswith("_") and node.id != "_":
                return Refusal(f"names starting with an underscore ({node.id}) are off limits", line)
            if node.id in BLOCKED_NAMES:
                return Refusal(f"{node.id}() is not available in the sandbox", line)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                return Refusal(f"attributes starting with an underscore (.{node.attr}) are off limits", line)
            if node.attr in BLOCKED_ATTRIBUTES:
                return Refusal(f"the attribute .{node.attr} is off limits", line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _FORMAT_WALK.search(node.value):
                return Refusal("format strings may not reach into attributes starting with _", line)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            continue
    return None
