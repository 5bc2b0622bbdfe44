"""Every record of more than three fields is built by keyword: adjacent fields share types, so a swap of two
positional arguments would type-check and go unnoticed."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "acs_smtp_operator"


def _is_dataclass(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Name) and target.id == "dataclass"


def test_records_of_more_than_three_fields_are_keyword_only() -> None:
    positional = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "sandbox" in path.parts:
            continue  # the emulators' state, not the operator's records
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            decorators = [d for d in node.decorator_list if _is_dataclass(d)]
            if not decorators:
                continue
            fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
            keyword = any(isinstance(d, ast.Call) and any(k.arg == "kw_only" for k in d.keywords) for d in decorators)
            if len(fields) > 3 and not keyword:
                positional.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({len(fields)} fields)")
    assert positional == [], "make these @dataclass(kw_only=True)"
