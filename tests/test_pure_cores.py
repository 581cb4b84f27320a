"""The pure cores (edge/core, central/core) pull in no web, database, MQTT or hardware library.

Two checks: a fresh interpreter imports every core module and then looks at ``sys.modules``
(catches transitive imports), and an ``ast`` scan of the source (catches a lazy import inside
a function, which importing alone would not run).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_DIRS = [ROOT / "edge" / "core", ROOT / "central" / "core"]
FORBIDDEN = frozenset({"flask", "peewee", "paho", "escpos", "evdev", "serial", "requests", "waitress", "psycopg2"})
PROJECT_PACKAGES = ("edge", "central", "protocol", "devices", "provisioning", "rosma")

PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _core_files() -> list[Path]:
    return sorted(p for d in CORE_DIRS for p in d.glob("*.py"))


def _loaded_after_importing(names: list[str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def _forbidden_in(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in FORBIDDEN}


def test_the_cores_are_where_we_think():
    names = {_module_name(p) for p in _core_files()}
    assert {
        "edge.core",
        "edge.core.queue",
        "edge.core.speech",
        "central.core",
        "central.core.calendar",
        "central.core.patients",
        "central.core.reservations",
    } <= names


def test_importing_every_core_module_loads_no_forbidden_library():
    names = sorted(_module_name(p) for p in _core_files())
    loaded = _loaded_after_importing(names)
    assert set(names) <= loaded  # the probe really imported them
    assert _forbidden_in(loaded) == set()


def test_the_import_probe_does_see_a_forbidden_library():
    # Guards the test above against passing vacuously (wrong interpreter, wrong cwd).
    loaded = _loaded_after_importing(["edge.core.queue", "peewee"])
    assert "edge.core.queue" in loaded
    assert "peewee" in _forbidden_in(loaded)


# ---- static scan -----------------------------------------------------------------------------


def _imports(source: str, package: str) -> set[str]:
    """Every module name a source file may import, wherever the import statement sits.

    ``package`` is the package the file belongs to, for resolving relative imports.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                prefix = ".".join(base)
                if node.module:
                    found.add(f"{prefix}.{node.module}")
                else:
                    found.update(f"{prefix}.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def _source_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _scan(start: list[Path]) -> dict[str, set[str]]:
    """Imports of the given files and of every project module they reach."""
    seen: dict[str, set[str]] = {}
    todo = [(_module_name(p), p) for p in start]
    while todo:
        module, path = todo.pop()
        if module in seen:
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        seen[module] = _imports(path.read_text(encoding="utf-8"), package)
        for name in seen[module]:
            if name.split(".")[0] in PROJECT_PACKAGES and (src := _source_of(name)) is not None:
                todo.append((_module_name(src), src))
    return seen


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: _module_name(p))
def test_core_source_has_no_forbidden_import_even_inside_functions(path):
    offenders = {module: _forbidden_in(names) for module, names in _scan([path]).items()}
    assert {m: bad for m, bad in offenders.items() if bad} == {}


def test_scan_follows_project_imports():
    reached = _scan([ROOT / "central" / "core" / "patients.py"])
    assert {"central.core.patients", "central.core.calendar", "protocol.nik"} <= set(reached)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("def f():\n    import flask\n", {"flask"}, id="lazy-import"),
        pytest.param("def f():\n    from peewee import Model\n", {"peewee"}, id="lazy-from-import"),
        pytest.param("try:\n    import serial.tools\nexcept ImportError:\n    pass\n", {"serial.tools"}, id="guarded"),
        pytest.param(
            "class C:\n    def m(self):\n        import paho.mqtt.client as mqtt\n",
            {"paho.mqtt.client"},
            id="in-method",
        ),
        pytest.param(
            "import importlib\nimportlib.import_module('escpos.printer')\n", {"escpos.printer"}, id="import-module"
        ),
        pytest.param("__import__('evdev')\n", {"evdev"}, id="dunder-import"),
        pytest.param("if False:\n    import requests, waitress\n", {"requests", "waitress"}, id="dead-branch"),
        pytest.param("from psycopg2 import extras\n", {"psycopg2"}, id="from-import"),
    ],
)
def test_static_scan_catches_forbidden_imports(source, expected):
    assert _forbidden_in(_imports(source, "edge.core")) >= expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("from .calendar import parse_date\n", "central.core.calendar", id="sibling"),
        pytest.param("from . import calendar\n", "central.core.calendar", id="package-member"),
        pytest.param("from ..services import book\n", "central.services", id="parent"),
    ],
)
def test_static_scan_resolves_relative_imports(source, expected):
    # so that a relative import of a non-pure sibling is followed and scanned too
    assert expected in _imports(source, "central.core")
