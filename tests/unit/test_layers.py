"""The import-linter contracts cover every module: a new module must be placed before lint-imports passes."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "acs_smtp_operator"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in config["contracts"]}


def _top_level_modules() -> set[str]:
    found = {f"acs_smtp_operator.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    found |= {f"acs_smtp_operator.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    return found


def test_every_module_is_named_in_the_sandbox_isolation_contract() -> None:
    isolation = next(c for name, c in _contracts().items() if name.startswith("The sandbox never imports"))
    assert set(isolation["forbidden_modules"]) == _top_level_modules() - {"acs_smtp_operator.sandbox"}


def test_every_module_but_the_cli_and_the_sandbox_may_not_reach_the_sandbox() -> None:
    only_cli = next(c for name, c in _contracts().items() if name.startswith("Only the CLI"))
    others = _top_level_modules() - {"acs_smtp_operator.sandbox", "acs_smtp_operator.cli"}
    assert set(only_cli["source_modules"]) == others


def test_every_module_is_pure_or_named_as_what_pure_code_may_not_import() -> None:
    pure = next(c for name, c in _contracts().items() if name.startswith("Pure decisions"))
    placed = set(pure["source_modules"]) | set(pure["forbidden_modules"])
    unplaced = _top_level_modules() - placed - {"acs_smtp_operator.clouds", "acs_smtp_operator.waiting"}
    assert unplaced == set(), "classify these modules in pyproject.toml's import-linter contracts"


# What a pure module may import from outside the package: the standard library's pure parts, and the two
# libraries for typed shapes and templates. Anything else (a socket, a subprocess, an HTTP client) is I/O.
ALLOWED = {"__future__", "base64", "collections", "dataclasses", "datetime", "enum", "hashlib", "re", "typing"}
ALLOWED |= {"functools", "math"}
ALLOWED |= {"uuid", "pydantic"}
ALLOWED_MODULES = {"urllib.parse"}  # the one part of urllib that does no I/O


def _imports(module: str) -> set[str]:
    path = PACKAGE / (module.removeprefix("acs_smtp_operator.").replace(".", "/") + ".py")
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pure_modules_import_only_pure_modules_and_an_allowed_few_outside() -> None:
    pure = set(next(c for name, c in _contracts().items() if name.startswith("Pure decisions"))["source_modules"])
    for module in sorted(pure):
        for name in _imports(module):
            top = name.split(".")[0]
            if top == "acs_smtp_operator":
                assert name in pure, f"{module} imports {name}, which is not a pure module"
            elif name not in ALLOWED_MODULES:
                assert top in ALLOWED and top in sys.stdlib_module_names | {"pydantic"}, (
                    f"{module} imports {name}: not among the pure modules' allowed imports"
                )
