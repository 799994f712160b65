"""The layout shows the architecture: imports point one way, and one name means one thing.

Apps in order, top to bottom. A module may import its own app and any app below
it, never one above: pages -> engine -> domain.
"""

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["config", "instructor", "exercises", "lessons", "core", "sandbox", "blog"]
# Names that must not be defined at module level by two modules for different things.
WATCHED = {"Outcome", "Dataset", "SIZES", "dataset_digest"}


def modules() -> list[Path]:
    return [path for app in LAYERS for path in (ROOT / app).rglob("*.py") if "migrations" not in path.parts]


def imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_an_app_above_its_own(path: Path) -> None:
    own = LAYERS.index(path.relative_to(ROOT).parts[0])
    above = sorted(app for app in imported_apps(path) if LAYERS.index(app) < own)
    assert not above, f"{path.relative_to(ROOT)} imports {above}, above it in {LAYERS}"


def test_the_sandbox_holds_only_the_engine() -> None:
    top = {p.name for p in (ROOT / "sandbox").iterdir() if not p.name.startswith((".", "__pycache__"))}
    assert top <= {
        "__init__.py", "apps.py", "analysis.py", "capture.py", "contract.py", "datasets.py", "pg.py",
        "runner.py", "worker", "management", "migrations",
    }, top  # fmt: skip


def test_templates_of_one_app_do_not_reach_into_another_apps_url_namespace_by_mistake() -> None:
    # Every {% url 'ns:name' %} names a namespace that exists.
    namespaces = {"lessons", "exercises", "instructor", "accounts", "blog", "admin"}
    for template in (ROOT / "templates").rglob("*.html"):
        for namespace in re.findall(r"\{% url ['\"](\w+):", template.read_text()):
            assert namespace in namespaces, f"{template.relative_to(ROOT)}: {namespace}"


def test_no_two_modules_define_one_watched_name_for_different_things() -> None:
    defined: dict[str, list[str]] = defaultdict(list)
    for path in modules():
        for node in ast.parse(path.read_text()).body:
            targets: list[str] = []
            if isinstance(node, ast.ClassDef | ast.FunctionDef):
                targets = [node.name]
            elif isinstance(node, ast.Assign):
                targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets = [node.target.id]
            for name in set(targets) & WATCHED:
                defined[name].append(str(path.relative_to(ROOT)))
    assert {name: places for name, places in defined.items() if len(places) > 1} == {}
