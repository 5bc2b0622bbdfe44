"""docs/operator.md's module table is the package: every module has its row, every row a module."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "acs_smtp_operator"


def _documented() -> set[str]:
    text = (ROOT / "docs" / "operator.md").read_text()
    table = text[text.index("| module | job |") : text.index("`tests/unit/test_docs_map.py` keeps")]
    return {m.group(1) for row in table.splitlines() if (m := re.match(r"\| `([a-z_/]+(?:\.py|/))`", row))}


def _modules() -> set[str]:
    found = {p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    for package in ("azure", "kube"):
        found |= {f"{package}/{p.name}" for p in (PACKAGE / package).glob("*.py") if p.stem != "__init__"}
    return found | {"sandbox/"}


def test_the_module_table_lists_every_module_and_only_modules() -> None:
    documented, modules = _documented(), _modules()
    assert documented - modules == set(), "rows for modules that do not exist"
    assert modules - documented == set(), "modules with no row in docs/operator.md's table"


def test_the_walk_through_names_functions_that_exist() -> None:
    text = (ROOT / "docs" / "operator.md").read_text()
    walk = text[text.index("### One event, end to end") :].split("\n## ", 1)[0]
    named = re.findall(r"`(\w+)\.(\w+)`", walk)
    assert len(named) >= 8
    for module, name in named:
        if name == "py":
            continue  # a module, checked by the table
        path = PACKAGE / f"{'coordinator' if module == 'Coordinator' else module}.py"
        assert path.exists(), f"{module}.{name}: no module {path.name}"
        assert re.search(rf"\bdef {name}\b|\bclass {name}\b", path.read_text()), f"{module}.{name} does not exist"
