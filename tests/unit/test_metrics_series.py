"""The metrics' series stay bounded whatever customers name things, and go with a deleted credential.

Only the per-credential gauges carry a customer's string (`namespace`, `name`); every other label value comes
from a fixed vocabulary. A scrape's size grows by exactly `PER_CREDENTIAL` samples per credential.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from prometheus_client import generate_latest

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.metrics import OPERATIONS, Metrics, route
from acs_smtp_operator.model import Reason, RotationReason
from acs_smtp_operator.status import Status

# expiration, renewal, ready and failed rotations: the per-credential gauges, one sample each.
PER_CREDENTIAL = 4
PER_CREDENTIAL_GAUGES = {
    "acssmtp_credential_expiration_timestamp_seconds",
    "acssmtp_credential_renewal_timestamp_seconds",
    "acssmtp_credential_ready_status",
    "acssmtp_credential_failed_rotations",
}
SUB = "0f3c2b1a-9d8e-4f7a-8b6c-5d4e3f2a1b0c"


@dataclass(frozen=True)
class Customer:
    """One credential and what its owner named: namespace, name, ACS resource, email domain, entry, ids."""

    i: int

    @property
    def namespace(self) -> str:
        return f"team-{self.i}-payments"

    @property
    def name(self) -> str:
        return f"mailer.{self.i}.prod"

    @property
    def strings(self) -> tuple[str, ...]:
        """What must never reach a label outside the per-credential gauges."""
        return (
            self.namespace,
            self.name,
            self.group,
            *([self.acs] if self.i % 3 else []),  # `smtpUsernames` is a word of the vocabulary: no leak to see
            self.domain,
            self.entry,
            self.tenant,
            self.app_id,
            self.assignment,
        )

    @property
    def group(self) -> str:
        return f"rg.shop-{self.i}"

    @property
    def acs(self) -> str:
        return ("smtpUsernames", f"boutique-é-{self.i}", f"acs%2E{self.i}")[self.i % 3]  # a vocabulary word too

    @property
    def domain(self) -> str:
        return f"mail.shop-{self.i}.example.com"

    @property
    def entry(self) -> str:
        return f"acssmtp-{self.namespace}-{self.i:032x}"

    @property
    def tenant(self) -> str:
        return f"shop-{self.i}.onmicrosoft.com"

    @property
    def app_id(self) -> str:
        return f"6f1c3b1e-5a0e-4d5b-9a43-{self.i:012x}"

    @property
    def assignment(self) -> str:
        return f"a1b2c3d4-0000-4000-8000-{self.i:012x}"

    def calls(self) -> list[tuple[str, str, str, int]]:
        """The requests of a rotation, as the SDKs' hooks report them (api, method, url path, status code)."""
        group = f"/subscriptions/{SUB}/resourceGroups/{self.group}"
        acs = f"{group}/providers/Microsoft.Communication/communicationServices/{self.acs}"
        roles = f"{acs}/providers/Microsoft.Authorization"
        return [
            ("entra", "POST", f"/{self.tenant}/oauth2/v2.0/token", 200),
            ("entra", "GET", f"/{self.tenant}/v2.0/.well-known/openid-configuration", 200),
            ("entra", "GET", "/metadata/identity/oauth2/token", 200),
            ("arm", "GET", acs, 200),
            (
                "arm",
                "GET",
                f"{group}/providers/Microsoft.Communication/emailServices/es-{self.i}/domains/{self.domain}",
                200,
            ),
            ("arm", "GET", f"{roles}/roleAssignments?$filter=atScope()", 200),
            ("arm", "GET", f"{roles}/roleDefinitions?$filter=roleName eq 'ACS SMTP {self.name}'", 200),
            ("arm", "PUT", f"{group}/providers/Microsoft.Authorization/roleDefinitions/{self.assignment}", 201),
            ("arm", "PUT", f"{roles}/roleAssignments/{self.assignment}", 409),
            ("arm", "GET", f"{acs}/smtpUsernames/{self.entry}", 404),
            ("arm", "PUT", f"{acs}/smtpUsernames/{self.entry}", 429),
            ("arm", "PUT", f"{acs}/smtpUsernames/{self.entry}", 200),
            ("arm", "DELETE", f"{acs}/smtpUsernames/{self.entry}", 503),
            ("graph", "GET", f"/v1.0/applications(appId='{self.app_id}')", 200),
            ("graph", "GET", f"/v1.0/servicePrincipals(appId='{self.app_id}')", 200),
            ("graph", "POST", f"/v1.0/applications/{self.app_id}/addPassword", 200),
            ("graph", "POST", f"/v1.0/applications/{self.app_id}/removePassword", 204),
            # What the operator never asks, and hostile shapes: all `other`, none of their text.
            ("graph", "GET", f"/v1.0/users/{self.name}@{self.domain}", 200),
            ("graph", "GET", f"/v1.0/applications(appId='{self.app_id}')/{self.name}", 200),
            ("arm", "GET", f"{group}/providers/Contoso.{self.name}/things/{self.domain}", 200),
            ("arm", "GET", f"/subscriptions/{SUB}/resourceGroups/{self.group}", 200),
            ("arm", "PROPFIND", acs, 200),
            ("entra", "POST", f"/{self.tenant}/{self.name}/token", 400),
            ("other", "GET", f"/{self.domain}", 0),
        ]


def drive(metrics: Metrics, customers: list[Customer]) -> None:
    """What the operator does for each: a pass's gauges, rotations, Azure calls, a restart, the pass's time."""
    reasons = list(RotationReason)

    async def restart(done: bool) -> bool:
        return done

    @dataclass
    class Passed:
        failure: Failure | None

    async def passed(failure: Failure | None) -> Passed:
        return Passed(failure)

    async def each() -> None:
        for customer in customers:
            ns, name = customer.namespace, customer.name
            for api, method, path, code in customer.calls():
                metrics.azure_call(api, method, path, code)
            metrics.rotation(ns, name, reasons[customer.i % len(reasons)], ("success", "failed")[customer.i % 2])
            metrics.rotation(ns, name, f"{customer.domain} went away", f"{name} broke")  # not ours: `other`
            metrics.credential(
                ns,
                name,
                Status.read(
                    {
                        "notAfter": "2027-01-01T00:00:00Z",
                        "renewalTime": "2026-12-01T00:00:00Z",
                        "conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "True"}],
                    }
                ),
            )
            metrics.paced(("arm", "graph")[customer.i % 2], 0.25)
            await metrics.restarted(("Deployment", "StatefulSet", "DaemonSet", name)[customer.i % 4], restart(True))
            failure = (None, Failure(Reason.INVALID_SPEC, name, retry=UntilSpecChanges()))[customer.i % 2]
            await metrics.timed_pass(passed(failure))

    asyncio.run(each())


def samples(metrics: Metrics) -> list[tuple[str, str, dict[str, str]]]:
    """(family type, sample name, labels) of every sample a scrape shows."""
    return [(family.type, s.name, dict(s.labels)) for family in metrics.registry.collect() for s in family.samples]


def test_the_operation_label_is_a_template_from_a_fixed_vocabulary() -> None:
    """Names with dots, unicode, GUIDs, domain names and vocabulary words fold away; unknown shapes are `other`."""
    expected = {f"{m} {t}" for m in ("GET", "PUT", "POST", "PATCH", "DELETE", "HEAD") for t in OPERATIONS} | {"other"}
    few = {route(api, method, path) for c in map(Customer, range(3)) for api, method, path, _ in c.calls()}
    many = {route(api, method, path) for c in map(Customer, range(300)) for api, method, path, _ in c.calls()}
    assert few == many, "more customers, no new operation"
    assert many <= expected
    assert "GET Microsoft.Communication/emailServices/{name}/domains/{name}" in many
    assert "POST {tenant}/oauth2/v2.0/token" in many
    assert route("arm", "GET", f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Communication") == "other"
    assert route("graph", "GET", "/v1.0/applications(appId='x')/../../users/alice") == "other"


def test_series_grow_by_the_per_credential_gauges_only_and_go_with_forget() -> None:
    """100 credentials: a constant plus PER_CREDENTIAL (4) samples each; once all are forgotten, the constant."""
    customers = [Customer(i) for i in range(100)]
    metrics = Metrics()
    drive(metrics, customers)
    total = len(samples(metrics))
    for customer in customers:
        metrics.forget(customer.namespace, customer.name)
    constant = samples(metrics)
    assert total == len(constant) + PER_CREDENTIAL * len(customers)

    few, enough = Metrics(), math.lcm(len(RotationReason), 2, 3, 4)  # every reason, kind, outcome and shape
    drive(few, customers[:enough])
    for customer in customers[:enough]:
        few.forget(customer.namespace, customer.name)
    assert len(samples(few)) == len(constant), "the constant part does not depend on the number of credentials"
    assert len(constant) < 400
    assert not [s for s in constant if s[1] in PER_CREDENTIAL_GAUGES], "a forgotten credential left a gauge"


def test_no_customer_string_reaches_a_label_but_the_per_credential_gauges() -> None:
    customers = [Customer(i) for i in range(100)]
    metrics = Metrics()
    drive(metrics, customers)
    leaks = [
        (name, labels)
        for kind, name, labels in samples(metrics)
        if name not in PER_CREDENTIAL_GAUGES
        for value in labels.values()
        if any(s in value for c in customers for s in c.strings)
    ]
    assert leaks == []
    gauges = [labels for _, name, labels in samples(metrics) if name in PER_CREDENTIAL_GAUGES]
    assert len(gauges) == PER_CREDENTIAL * len(customers)
    assert all(set(labels) == {"namespace", "name"} for labels in gauges)
    page = generate_latest(metrics.registry).decode()
    rest = "\n".join(line for line in page.splitlines() if not line.startswith(tuple(PER_CREDENTIAL_GAUGES)))
    assert not [s for c in customers for s in c.strings if s in rest]
