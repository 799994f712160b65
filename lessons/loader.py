"""Lessons as files: ``lessons/content/NN-slug.md``, front matter then Markdown.

A fenced block such as ```` ```python variant=bad compare=listing queries=1+N ````
is runnable: blocks sharing ``compare`` are shown side by side and run through
``sandbox.runner`` exactly as written. Any mistake in a file (a compare group
without both variants, an unknown attribute, a duplicate slug) is a
``LessonError`` naming the file and line; the app checks every file at start-up.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.token import Token
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

CONTENT_DIR = Path(__file__).resolve().parent / "content"
FILENAME = re.compile(r"^(\d{2})-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$")
BLOCK_ATTRIBUTES = frozenset({"variant", "compare", "queries", "raises", "n", "label", "tradeoff"})
VARIANTS = ("bad", "good")
_FORMULA = re.compile(r"^[0-9N+*\- ()]+$")


class LessonError(Exception):
    """A lesson file that cannot be served, with the place to fix it."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path, self.line = path, line
        super().__init__(f"{path.name}:{line}: {message}")


def highlight_code(code: str, language: str = "python") -> SafeString:
    try:
        lexer = get_lexer_by_name(language)
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    return mark_safe(str(highlight(code, lexer, HtmlFormatter(nowrap=False, cssclass="highlight"))))  # noqa: S308


def expected_queries(formula: str, n: int) -> int:
    """Evaluate a declared count such as ``2`` or ``1+2*N`` for ``N = n``."""

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id == "N":
            return n
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            return left - right if isinstance(node.op, ast.Sub) else left * right
        raise ValueError(f"not a query-count formula: {formula!r}")

    return walk(ast.parse(formula, mode="eval"))


@dataclass(frozen=True)
class Block:
    lesson: str
    compare: str
    variant: str
    code: str
    line: int
    queries: str | None = None
    raises: str | None = None
    n: str | None = None
    label: str | None = None
    tradeoff: str | None = None  # on a good block: why it is not faster, in one sentence

    @property
    def title(self) -> str:
        return (self.label or self.variant).replace("-", " ")

    @functools.cached_property
    def highlighted(self) -> SafeString:
        """The block's code as highlighted HTML, made once (lessons never change while served)."""
        return highlight_code(self.code)

    def to_json(self) -> dict[str, Any]:
        return {
            "compare": self.compare,
            "variant": self.variant,
            "code": self.code,
            "queries": self.queries,
            "raises": self.raises,
            "tradeoff": self.tradeoff,
        }


@dataclass(frozen=True)
class Comparison:
    id: str
    bad: Block
    good: Block

    @property
    def variants(self) -> tuple[Block, Block]:
        return (self.bad, self.good)

    @property
    def tradeoff(self) -> str | None:
        """Why the good variant is not faster on a large dataset, when the lesson says it is not."""
        return self.good.tradeoff


@dataclass(frozen=True)
class Segment:
    """A run of prose, or the place where a comparison is shown."""

    html: SafeString | None = None
    comparison: Comparison | None = None


DOCS_URL = "https://docs.djangoproject.com/en/6.1/"


@dataclass(frozen=True)
class DocLink:
    """A section of Django's documentation that a lesson builds on."""

    title: str
    url: str


@dataclass
class Lesson:
    slug: str
    title: str
    order: int
    summary: str
    path: Path
    docs: list[DocLink] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)
    comparisons: dict[str, Comparison] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return reverse("lessons:detail", args=[self.slug])

    def comparison(self, compare: str) -> Comparison:
        return self.comparisons[compare]

    def to_json(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "title": self.title,
            "order": self.order,
            "summary": self.summary,
            "url": self.url,
            "docs": [{"title": d.title, "url": d.url} for d in self.docs],
            "blocks": [b.to_json() for b in self.blocks],
        }


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "typographer": True}).enable("table")

    def fence(renderer: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        language = token.info.split()[0] if token.info.strip() else "text"
        return str(highlight_code(token.content, language))

    md.add_render_rule("fence", fence)
    return md


def _split_front_matter(path: Path, text: str) -> tuple[dict[str, Any], str, int]:
    if not text.startswith("---\n"):
        raise LessonError(path, 1, "a lesson starts with front matter between '---' lines")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise LessonError(path, 1, "the front matter has no closing '---' line")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as exc:
        raise LessonError(path, 2, f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise LessonError(path, 2, "front matter must be a mapping")
    body = text[end + 5 :]
    return meta, body, text[: end + 5].count("\n")


def _block(path: Path, slug: str, token: Token, line: int) -> Block | None:
    try:
        words = shlex.split(token.info)  # tradeoff="a sentence with spaces"
    except ValueError as exc:
        raise LessonError(path, line, f"the block's attributes do not parse: {exc}") from None
    if not words or words[0] != "python" or len(words) == 1:
        return None
    attrs: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep or not value:
            raise LessonError(path, line, f"block attribute {word!r} is not key=value")
        if key not in BLOCK_ATTRIBUTES:
            known = ", ".join(sorted(BLOCK_ATTRIBUTES))
            raise LessonError(path, line, f"unknown block attribute {key!r} (known: {known})")
        if key in attrs:
            raise LessonError(path, line, f"block attribute {key!r} given twice")
        attrs[key] = value
    if attrs.get("variant") not in VARIANTS:
        raise LessonError(path, line, "a runnable block needs variant=bad or variant=good")
    if "compare" not in attrs:
        raise LessonError(path, line, "a runnable block needs compare=<id>")
    if "tradeoff" in attrs and attrs.get("variant") != "good":
        raise LessonError(
            path, line, "tradeoff= belongs on the good block: it says why that one is not faster"
        )
    if ("queries" in attrs) == ("raises" in attrs):
        raise LessonError(path, line, "a runnable block declares queries=<count> or raises=<Error>")
    if "queries" in attrs:
        formula = attrs["queries"]
        try:
            if not _FORMULA.match(formula):
                raise ValueError
            expected_queries(formula, 1)
        except (ValueError, SyntaxError):
            raise LessonError(path, line, f"queries={formula} is not a count or a formula in N") from None
    return Block(
        lesson=slug,
        compare=attrs["compare"],
        variant=attrs["variant"],
        code=token.content.rstrip("\n") + "\n",
        line=line,
        queries=attrs.get("queries"),
        raises=attrs.get("raises"),
        n=attrs.get("n"),
        label=attrs.get("label"),
        tradeoff=attrs.get("tradeoff"),
    )


def _docs(path: Path, entries: Any) -> list[DocLink]:
    """``docs:`` is a list of ``{title, url}``: sections of Django's own documentation, this version's."""
    if not isinstance(entries, list) or not entries:
        raise LessonError(path, 2, "docs: lists the Django documentation sections the lesson builds on")
    links = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"title", "url"}:
            raise LessonError(path, 2, "each docs: entry has a title and a url, nothing else")
        if not str(entry["url"]).startswith(DOCS_URL):
            raise LessonError(path, 2, f"docs: links point into {DOCS_URL}, not {entry['url']}")
        links.append(DocLink(str(entry["title"]), str(entry["url"])))
    return links


def parse(path: Path) -> Lesson:
    """Read and validate one lesson file."""
    match = FILENAME.match(path.name)
    if not match:
        raise LessonError(path, 1, "lesson files are named NN-slug.md, e.g. 03-prefetch-related.md")
    meta, body, offset = _split_front_matter(path, path.read_text())
    for key in ("title", "order", "summary", "docs"):
        if key not in meta:
            raise LessonError(path, 2, f"front matter needs {key!r}")
    unknown = set(meta) - {"title", "order", "summary", "docs"}
    if unknown:
        raise LessonError(path, 2, f"unknown front matter key(s): {', '.join(sorted(unknown))}")
    lesson = Lesson(
        slug=match.group(2),
        title=str(meta["title"]),
        order=int(meta["order"]),
        summary=str(meta["summary"]),
        path=path,
        docs=_docs(path, meta["docs"]),
    )
    md = _markdown()
    tokens = md.parse(body)
    groups: dict[str, dict[str, Block]] = {}
    first_line: dict[str, int] = {}
    prose: list[Token] = []
    placements: list[tuple[list[Token], str | None]] = []
    for token in tokens:
        line = offset + (token.map[0] + 1 if token.map else 1)
        block = _block(path, lesson.slug, token, line) if token.type == "fence" else None
        if block is None:
            prose.append(token)
            continue
        group = groups.setdefault(block.compare, {})
        if block.variant in group:
            raise LessonError(path, line, f"compare={block.compare} already has a {block.variant} block")
        group[block.variant] = block
        lesson.blocks.append(block)
        if block.compare not in first_line:
            first_line[block.compare] = line
            placements.append((prose, block.compare))
            prose = []
    placements.append((prose, None))
    for compare, group in groups.items():
        missing = [v for v in VARIANTS if v not in group]
        if missing:
            raise LessonError(path, first_line[compare], f"compare={compare} has no {missing[0]} block")
        lesson.comparisons[compare] = Comparison(compare, group["bad"], group["good"])
    if not lesson.comparisons:
        raise LessonError(path, 1, "a lesson needs at least one runnable comparison")
    for chunk, placed in placements:
        if chunk:
            lesson.segments.append(Segment(html=mark_safe(md.renderer.render(chunk, md.options, {}))))  # noqa: S308
        if placed:
            lesson.segments.append(Segment(comparison=lesson.comparisons[placed]))
    return lesson


def load(directory: Path = CONTENT_DIR) -> list[Lesson]:
    """Every lesson in ``directory``, validated, in order."""
    lessons: list[Lesson] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.md")):
        lesson = parse(path)
        if lesson.slug in seen:
            raise LessonError(path, 1, f"duplicate slug {lesson.slug!r} (also {seen[lesson.slug].name})")
        seen[lesson.slug] = path
        lessons.append(lesson)
    return sorted(lessons, key=lambda lesson: (lesson.order, lesson.slug))


@functools.cache
def all_lessons() -> tuple[Lesson, ...]:
    return tuple(load())


def find(slug: str) -> Lesson | None:
    return next((lesson for lesson in all_lessons() if lesson.slug == slug), None)


def get(slug: str) -> Lesson:
    lesson = find(slug)
    if lesson is None:
        raise KeyError(slug)
    return lesson


def neighbours(lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
    lessons = all_lessons()
    index = lessons.index(lesson)
    return (lessons[index - 1] if index else None, lessons[index + 1] if index + 1 < len(lessons) else None)
