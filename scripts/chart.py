"""`make chart`: the chart packaged as released, with the real Helm library (helm-python-sdk), after a strict lint;
prints the archive's path. The chart's version and appVersion are pyproject.toml's (a test checks they agree)."""

from __future__ import annotations

import sys
from pathlib import Path

import helm_python

CHART = Path(__file__).resolve().parent.parent / "charts" / "acs-smtp-operator"
ANY_GUID = "00000000-0000-0000-0000-000000000000"
LINT_VALUES = {"azure": {"tenantId": ANY_GUID, "identity": {"clientId": ANY_GUID}}}


def package(destination: Path) -> Path:
    report = helm_python.lint(CHART, LINT_VALUES, strict=True)
    if report["errors"] or report["messages"]:
        raise SystemExit(f"helm lint --strict: {report}")
    destination.mkdir(parents=True, exist_ok=True)
    return Path(helm_python.package(CHART, destination=destination))


if __name__ == "__main__":
    print(package(Path(sys.argv[2] if len(sys.argv) > 2 else "build/chart")))
