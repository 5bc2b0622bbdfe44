"""Replaying an example against the emulator, and the differences the replay is allowed to find."""

from __future__ import annotations

import fnmatch
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from acs_smtp_operator.sandbox.azure.state import BUILTIN_ROLES
from tests.conformance.cases import ArmCase, Binding, example
from tests.conformance.conftest import Answer, Emulator
from tests.conformance.shapes import Difference

__all__ = ["Known", "arm_binding", "arm_request", "known_differences", "unexplained"]

READER = next(guid for guid, (name, _) in BUILTIN_ROLES.items() if name == "Reader")
DIFFERENCES = Path(__file__).parent / "differences.yaml"


def arm_binding(emulator: Emulator) -> Binding:
    """Fresh names for what the replay creates (a role, an assignment, an smtpUsernames entry), the sandbox's for
    what exists."""
    manifest = emulator.sandbox.manifest
    cloud = emulator.sandbox.ctx.cloud
    acs = next(a for a in manifest["communicationServices"] if a["name"] == "shop-mailer-acs")
    _, _, sub, _, rg, *_ = acs["resourceId"].split("/")
    app = next(a for a in manifest["applications"] if a["name"] == "shop-mailer")
    principal = cloud.sp_by_app_id(app["clientId"])
    assert principal is not None
    domain = next(d for d in acs["linkedDomains"] if d != "AzureManagedDomain")
    tag = uuid.uuid4().hex[:8]
    assignment = str(uuid.uuid4())
    return Binding(
        exact={
            "scope": f"subscriptions/{sub}/resourceGroups/{rg}",
            "roleDefinitionId": str(uuid.uuid4()),
            "Role name": f"Conformance role {tag}",
            "/subscriptions/subId": f"/subscriptions/{sub}/resourceGroups/{rg}",
            "action": "Microsoft.Communication/CommunicationServices/Read",
            "User": "ServicePrincipal",
            "11112222-3333-4444-5555-666677778888": sub,
            "MyResourceGroup": rg,
            "contosoResourceGroup": rg,
            "MyCommunicationResource": acs["name"],
            "contosoACSService": acs["name"],
            "MyEmailServiceResource": acs.get("emailService", "email-sandbox"),
            "mydomain.com": domain,
            "smtpusername1": f"conformance-{tag}",
            "newuser1@contoso.com": f"conformance-{tag}@{domain}",
            "aaaa1111-bbbb-2222-3333-aaaa111122bb": app["clientId"],
            "aaaa1111-bbbb-2222-3333-aaaa11112222": cloud.tenant_id,
        },
        parts={
            "a925f2f7-5c63-4b7b-8799-25a5f97bc3b2": sub,
            "resourceGroups/testrg/providers/Microsoft.DocumentDb/databaseAccounts/test-db-account": (
                f"resourceGroups/{rg}/providers/Microsoft.Communication/communicationServices/{acs['name']}"
            ),
            "resourceGroups/testrg": f"resourceGroups/{rg}",
            "0b5fe924-9a61-425c-96af-cfe6e287ca2d": READER,
            "ce2ce14e-85d7-4629-bdbc-454d0519d987": principal.object_id,
            "05c5a614-a7d6-4502-b150-c2fb455033ff": assignment,
            "b0f43c54-e787-4862-89b1-a653fa9cf747": assignment,
            "'Role name'": f"'Conformance role {tag}'",
        },
    )


def arm_request(case: ArmCase, binding: Binding, missing: bool = False) -> tuple[str, Any]:
    """The example's request, bound: (path and query, body). `missing`: the resource it names (the path's last
    parameter) is one that does not exist."""
    parameters = dict(example(case.example)["parameters"])
    if missing:
        parameters[re.findall(r"\{(\w+)\}", case.template)[-1]] = "conformance-missing"
    path = binding.path(case.template, parameters)
    body: Any = None
    if case.body == "body":
        # PutRoleDefinition.json carries its body flattened under `body.roleDefinition`; the spec's request is a
        # RoleDefinition, whose role fields sit under `properties` (x-ms-client-flatten).
        flat = parameters["body"]["roleDefinition"]
        body = {"properties": {k: v for k, v in flat.items() if k not in ("id", "name", "type")}}
    elif case.body is not None:
        body = parameters[case.body]
    return f"{path}?api-version={case.api_version}{binding.bind(case.query)}", binding.bind(body)


async def replay(emulator: Emulator, case: ArmCase, binding: Binding) -> Answer:
    for first in case.setup:
        setup = next_case(first)
        path, body = arm_request(setup, binding)
        done = await emulator.call("arm", setup.method, path, body)
        assert done.status in (200, 201), f"setup {setup.name}: HTTP {done.status} {done.body}"
    path, body = arm_request(case, binding)
    return await emulator.call("arm", case.method, path, body)


def next_case(example_path: str) -> ArmCase:
    from tests.conformance.cases import ARM_CASES

    return next(c for c in ARM_CASES if c.example == example_path)


@dataclass(frozen=True)
class Known:
    case: str
    path: str  # fnmatch pattern
    kind: str
    reason: str

    def covers(self, case: str, difference: Difference) -> bool:
        return (
            case == self.case
            and difference.kind == self.kind
            and fnmatch.fnmatchcase(difference.path, self.path.replace("[", "[[]"))  # `[]` is literal here
        )


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def known_differences() -> list[Known]:
    """One entry per (case, path) of `differences.yaml`, whose entries may name several of each."""
    entries = yaml.safe_load(DIFFERENCES.read_text()) or []
    known = [
        Known(case, path, e["kind"], e["reason"])
        for e in entries
        for case in _listed(e["case"])
        for path in _listed(e["path"])
    ]
    for entry in known:
        assert entry.reason.strip(), f"{entry.case} {entry.path}: a listed difference needs its reason"
    return known


def unexplained(case: str, found: list[Difference]) -> tuple[list[Difference], list[Known]]:
    """The differences no listed entry explains, and the listed entries of the case that explain nothing (fixed
    since, or wrong: either way the list must say so)."""
    known = [k for k in known_differences() if k.case == case]
    loose = [d for d in found if not any(k.covers(case, d) for k in known)]
    stale = [k for k in known if not any(k.covers(case, d) for d in found)]
    return loose, stale
