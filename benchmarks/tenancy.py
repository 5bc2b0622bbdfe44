"""What tenancy costs the operator's CPU: deciding permissions and the policies' status (pure, no I/O).

A policy or namespace change re-decides the permission of every credential the operator serves (the spec's
validation and `permit`, as a pass starts); the policy status writer recomputes every policy's status after
any change. Prints figures for growing numbers of credentials, policies and namespaces.

    .venv/bin/python benchmarks/tenancy.py [--credentials 1000] [--policies 10 100 1000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from acs_smtp_operator.failure import Failure
from acs_smtp_operator.policy import policy_view
from acs_smtp_operator.policy_status import policy_status
from acs_smtp_operator.tenancy import Tenancy, conflicts, permit
from acs_smtp_operator.validate import validate

SUB = "11111111-2222-3333-4444-555555555555"
TENANT = "66666666-7777-8888-9999-000000000000"


def _acs(n: int) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/rg-{n}/providers/Microsoft.Communication/communicationServices/acs-{n}"


def _world(credentials: int, policies: int) -> tuple[list[tuple[str, dict[str, Any]]], Tenancy]:
    """One namespace and one application per policy; credentials spread over the namespaces."""
    apps = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"app-{n}")) for n in range(policies)]
    views = tuple(
        policy_view(
            {
                "metadata": {"name": f"team-{n}", "creationTimestamp": "2026-01-01T00:00:00Z"},
                "spec": {
                    "namespaces": {"selector": {"matchLabels": {"team": f"team-{n}"}}},
                    "applications": [apps[n]],
                    "communicationServices": [f"/subscriptions/{SUB}/resourceGroups/rg-{n}/*"],
                },
            }
        )
        for n in range(policies)
    )
    labels = {f"ns-{n}": {"team": f"team-{n}"} for n in range(policies)}
    specs = [
        (
            f"ns-{i % policies}",
            {
                "communicationService": {"resourceId": _acs(i % policies)},
                "entraApplication": {"clientId": apps[i % policies]},
            },
        )
        for i in range(credentials)
    ]
    return specs, Tenancy(views, labels)


def _recheck(specs: list[tuple[str, dict[str, Any]]], tenancy: Tenancy) -> int:
    permitted = 0
    for namespace, raw in specs:
        try:
            permit(validate(raw, TENANT, "smtp.azurecomm.net", 587), namespace, tenancy)
            permitted += 1
        except Failure:
            pass
    return permitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--credentials", type=int, default=1000)
    parser.add_argument("--policies", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    print(f"{'credentials':>11} {'policies':>8} {'recheck all (ms)':>16} {'per credential (us)':>19} "
          f"{'policy statuses (ms)':>20}")  # fmt: skip
    for count in args.policies:
        specs, tenancy = _world(args.credentials, count)
        started = time.perf_counter()
        permitted = _recheck(specs, tenancy)
        recheck = time.perf_counter() - started
        assert permitted == len(specs), "every credential is permitted by its team's policy"
        started = time.perf_counter()
        refused = conflicts(tenancy.policies)
        for view in tenancy.policies:
            policy_status(view, refused, tenancy.namespaces, 0)
        statuses = time.perf_counter() - started
        print(
            f"{args.credentials:>11} {count:>8} {recheck * 1000:>16.1f} "
            f"{recheck / len(specs) * 1e6:>19.1f} {statuses * 1000:>20.1f}"
        )


if __name__ == "__main__":
    main()
