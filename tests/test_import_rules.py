"""The import rules of architecture.md, read from every module's imports (ast, not a run).

``device_agent`` imports neither ``hub`` nor ``kiosk``; ``hub`` and ``kiosk``
never import each other; only ``hallrate/`` (the command line and the demo)
imports all three, and none of the three imports it. Imports inside
functions and under ``TYPE_CHECKING`` count too: a lazy import is still a
dependency. And what ``hub`` and ``kiosk`` take from ``device_agent`` is only
its public surface, the names ``device_agent.SURFACE`` declares.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import device_agent

ROOT = Path(__file__).resolve().parent.parent
# package: the top-level packages it must never import
FORBIDDEN = {
    "device_agent": {"hub", "kiosk", "hallrate"},
    "hub": {"kiosk", "hallrate"},
    "kiosk": {"hub", "hallrate"},
    "hallrate": set(),
}


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """Every module that ``path`` (the module named ``module``) imports, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # A relative import, resolved against the module's own package.
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def violations(path: Path, module: str) -> list[str]:
    """``file:line imports name`` for each import the rules forbid in ``module``."""
    forbidden = FORBIDDEN[module.split(".", maxsplit=1)[0]]
    return [
        f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line}"
        f" ({module}) imports {name}"
        for line, name in imported_modules(path, module)
        if name.split(".")[0] in forbidden
    ]


def modules() -> list[tuple[Path, str]]:
    found = []
    for package in FORBIDDEN:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found.append((path, ".".join(parts)))
    return found


def test_no_module_breaks_the_import_rules():
    found = modules()
    assert len(found) > 100, "the packages were found"
    broken = [v for path, module in found for v in violations(path, module)]
    assert broken == [], "\n".join(broken)


def test_only_hallrate_imports_all_three_roles():
    roles = {"device_agent", "hub", "kiosk"}
    imported = {
        name.split(".")[0]
        for path, module in modules()
        if module.startswith("hallrate")
        for _, name in imported_modules(path, module)
    }
    assert roles <= imported


@pytest.mark.parametrize(
    ("package", "source", "wanted"),
    [
        ("device_agent", "from hub.store import Store\n", "imports hub.store"),
        ("hub", "def f():\n    import kiosk.app\n", "imports kiosk.app"),
        ("kiosk", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
         "    from hallrate import demo\n", "imports hallrate"),
        ("hub", "import json, kiosk as lobby\n", "imports kiosk"),
    ],
)  # fmt: skip
def test_a_forbidden_import_is_named_with_its_module_and_line(tmp_path, package, source, wanted):
    path = tmp_path / "offender.py"
    path.write_text(source)
    (found,) = violations(path, f"{package}.sub.offender")
    assert found.endswith(f"({package}.sub.offender) imports {wanted.split()[-1]}"), found
    assert found.startswith(f"{path}:")


def test_an_allowed_import_is_not_a_violation(tmp_path):
    path = tmp_path / "fine.py"
    path.write_text("from device_agent.storage import open_database\nfrom . import config\n")
    assert violations(path, "hub.fine") == []


def surface_violations(path: Path, module: str) -> list[str]:
    """``file:line`` for each thing ``module`` takes from device_agent off its public surface."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(
                f"{where}:{node.lineno} ({module}) imports {alias.name} whole: import its names"
                for alias in node.names
                if alias.name.split(".")[0] == "device_agent"
            )
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            package, _, name = node.module.partition(".")
            if package != "device_agent":
                continue
            allowed = device_agent.SURFACE.get(name, frozenset())
            found.extend(
                f"{where}:{node.lineno} ({module}) imports {node.module}.{alias.name},"
                " which is not on device_agent's surface"
                for alias in node.names
                if alias.name not in allowed
            )
    return found


def test_hub_and_kiosk_import_only_device_agents_public_surface():
    found = [(path, module) for path, module in modules() if module.startswith(("hub", "kiosk"))]
    assert len(found) > 60, "the hub's and kiosk's modules were found"
    broken = [v for path, module in found for v in surface_violations(path, module)]
    assert broken == [], "\n".join(broken)


def test_every_name_on_the_surface_exists_and_the_docstring_lists_its_module():
    for name, names in device_agent.SURFACE.items():
        module = importlib.import_module(f"device_agent.{name}")
        assert sorted(n for n in names if not hasattr(module, n)) == [], name
        assert f"``{name}``" in (device_agent.__doc__ or ""), name


def test_the_serving_helper_and_the_device_own_modules_are_off_the_surface():
    # The window device's own parts, and what no agent runs (HTTP serving), are not shared.
    for name in ("session", "evaluator", "keypad", "lights", "link", "outbox", "serving"):
        assert name not in device_agent.SURFACE


@pytest.mark.parametrize(
    ("source", "wanted"),
    [
        ("from device_agent.session import RatingSession\n",
         "imports device_agent.session.RatingSession, which is not on device_agent's surface"),
        ("from device_agent.protocol import Vote, _Fields\n",
         "imports device_agent.protocol._Fields, which is not on device_agent's surface"),
        ("def f():\n    import device_agent.topics\n",
         "imports device_agent.topics whole: import its names"),
        ("from device_agent import storage\n",
         "imports device_agent.storage, which is not on device_agent's surface"),
    ],
)  # fmt: skip
def test_an_import_off_the_surface_is_named_with_its_module_and_line(tmp_path, source, wanted):
    path = tmp_path / "offender.py"
    path.write_text(source)
    (found,) = surface_violations(path, "kiosk.offender")
    assert found == f"{path}:{source.count(chr(10))} (kiosk.offender) {wanted}"


def test_an_import_on_the_surface_is_not_a_violation(tmp_path):
    path = tmp_path / "fine.py"
    path.write_text("from device_agent.storage import open_database\nimport json\n")
    assert surface_violations(path, "hub.fine") == []
