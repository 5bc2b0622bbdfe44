import asyncio
from dataclasses import dataclass

import pytest
from prometheus_client import generate_latest

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.metrics import Metrics, route
from acs_smtp_operator.model import Reason
from acs_smtp_operator.status import Status


def test_operations_are_labelled_without_ids_or_names() -> None:
    """Label values must stay few and never carry an id (or anything secret)."""
    assert (
        route("graph", "post", "/v1.0/applications/6f1c3b1e-5a0e-4d5b-9a43-0c0ffee0ac50/addPassword")
        == "POST v1.0/applications/{id}/addPassword"
    )
    assert (
        route("graph", "get", "/v1.0/applications(appId='6f1c3b1e-5a0e-4d5b-9a43-0c0ffee0ac50')")
        == "GET v1.0/applications(appId={id})"
    )
    assert (
        route(
            "arm",
            "put",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Communication/"
            "communicationServices/shop/smtpUsernames/alice",
        )
        == "PUT Microsoft.Communication/communicationServices/{name}/smtpUsernames/{name}"
    )


def test_a_credential_reports_expiry_renewal_and_readiness() -> None:
    metrics = Metrics()
    metrics.credential(
        "ns",
        "cr",
        Status.read(
            {
                "notAfter": "2027-01-01T00:00:00Z",
                "renewalTime": "2026-12-01T00:00:00Z",
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        ),
    )
    value = metrics.registry.get_sample_value
    assert value("acssmtp_credential_expiration_timestamp_seconds", {"namespace": "ns", "name": "cr"}) == 1798761600
    assert value("acssmtp_credential_ready_status", {"namespace": "ns", "name": "cr"}) == 1
    metrics.forget("ns", "cr")
    assert value("acssmtp_credential_ready_status", {"namespace": "ns", "name": "cr"}) is None


def test_failed_rotations_count_in_a_row_from_zero_and_a_success_resets_them() -> None:
    """The RotationFailing alert reads this gauge: it exists at 0 before any failure (a counter's first
    increment is invisible to increase()), counts failures in a row, and a success brings it back to 0."""
    metrics = Metrics()
    value = metrics.registry.get_sample_value
    labels = {"namespace": "ns", "name": "cr"}
    metrics.credential("ns", "cr", Status.read({}))
    assert value("acssmtp_credential_failed_rotations", labels) == 0
    metrics.rotation("ns", "cr", "RenewalDue", "verification_failed")
    metrics.rotation("ns", "cr", "RenewalDue", "failed")
    assert value("acssmtp_credential_failed_rotations", labels) == 2
    assert value("acssmtp_rotations_total", {"reason": "RenewalDue", "result": "failed"}) == 1
    metrics.rotation("ns", "cr", "RenewalDue", "success")
    assert value("acssmtp_credential_failed_rotations", labels) == 0
    metrics.rotation("ns", "cr", "RenewalDue", "failed")  # a Secret write in doubt, whose key the next pass adopts
    metrics.credential("ns", "cr", Status.read({"conditions": [{"type": "Synced", "status": "False"}]}))
    assert value("acssmtp_credential_failed_rotations", labels) == 1
    metrics.credential("ns", "cr", Status.read({"conditions": [{"type": "Synced", "status": "True"}]}))
    assert value("acssmtp_credential_failed_rotations", labels) == 0, "a pass that succeeded: nothing is failing"
    metrics.forget("ns", "cr")
    assert value("acssmtp_credential_failed_rotations", labels) is None


def test_build_info_carries_the_installed_version() -> None:
    """`acssmtp_build_info{version}`: what a dashboard shows of a rollout, the package's own version."""
    import platform
    from importlib.metadata import version

    metrics = Metrics()
    labels = {"version": version("acs-smtp-operator"), "python": platform.python_version()}
    assert metrics.registry.get_sample_value("acssmtp_build_info", labels) == 1.0
    page = generate_latest(metrics.registry).decode()
    exposed = {line.split("{")[0].split(" ")[0] for line in page.splitlines() if line.startswith("acssmtp_build")}
    assert exposed == {"acssmtp_build_info"}, "one series, under exactly that name"


def test_a_forgotten_credential_leaves_no_series_and_counters_carry_none() -> None:
    """A deleted credential's gauges go with it; another's stay; rotations and Azure calls name no credential."""
    metrics = Metrics()
    for name in ("gone", "kept"):
        metrics.credential("ns", name, Status.read({}))
        metrics.rotation("ns", name, "RenewalDue", "success")
        metrics.azure_call("graph", "POST", "/v1.0/applications/6f1c3b1e-5a0e-4d5b-9a43-0c0ffee0ac50/addPassword", 200)
    metrics.forget("ns", "gone")
    page = generate_latest(metrics.registry).decode()
    assert 'name="gone"' not in page
    assert 'acssmtp_credential_ready_status{name="kept",namespace="ns"} 0.0' in page
    assert 'acssmtp_rotations_total{reason="RenewalDue",result="success"} 2.0' in page
    operation = "POST v1.0/applications/{id}/addPassword"
    assert f'acssmtp_azure_requests_total{{api="graph",operation="{operation}",outcome="2xx"}} 2.0' in page


def test_azure_requests_are_counted_by_outcome_with_throttling_apart() -> None:
    """The AzureThrottled alert reads `outcome="429"`; other codes are counted by their class."""
    metrics = Metrics()
    path = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Communication/communicationServices/shop"
    for code in (200, 201, 404, 403, 429, 429, 503, 0):
        metrics.azure_call("arm", "GET", path, code)
    value = metrics.registry.get_sample_value
    labels = {"api": "arm", "operation": "GET Microsoft.Communication/communicationServices/{name}"}
    counted = {o: value("acssmtp_azure_requests_total", {**labels, "outcome": o}) for o in ("2xx", "4xx", "429")}
    assert counted == {"2xx": 2, "4xx": 2, "429": 2}
    assert value("acssmtp_azure_requests_total", {**labels, "outcome": "5xx"}) == 1
    assert value("acssmtp_azure_requests_total", {**labels, "outcome": "error"}) == 1


@dataclass
class _Outcome:
    failure: Failure | None = None


def test_each_pass_is_timed_once_by_outcome() -> None:
    """success, held (nothing is tried until the spec changes) and failure, a raised one included."""
    metrics = Metrics()

    async def passes() -> None:
        async def returns(failure: Failure | None) -> _Outcome:
            return _Outcome(failure)

        async def raises() -> _Outcome:
            raise Failure(Reason.AZURE_ERROR, "unreachable")

        await metrics.timed_pass(returns(None))
        await metrics.timed_pass(returns(None))
        await metrics.timed_pass(returns(Failure(Reason.INVALID_SPEC, "bad", retry=UntilSpecChanges())))
        await metrics.timed_pass(returns(Failure(Reason.AZURE_ERROR, "throttled")))
        with pytest.raises(Failure):
            await metrics.timed_pass(raises())

    asyncio.run(passes())
    value = metrics.registry.get_sample_value
    counts = {
        o: value("acssmtp_reconcile_duration_seconds_count", {"outcome": o}) for o in ("success", "held", "failure")
    }
    assert counts == {"success": 2, "held": 1, "failure": 2}
    assert value("acssmtp_reconcile_duration_seconds_bucket", {"outcome": "success", "le": "0.05"}) == 2


def test_restarts_are_counted_by_kind_and_result_without_the_workload() -> None:
    metrics = Metrics()

    async def restarts() -> None:
        async def answer(done: bool) -> bool:
            return done

        async def refused() -> bool:
            raise Failure(Reason.FORBIDDEN, "patching Deployment web-frontend is forbidden")

        assert await metrics.restarted("Deployment", answer(True))
        assert not await metrics.restarted("StatefulSet", answer(False))  # the workload does not exist
        with pytest.raises(Failure):
            await metrics.restarted("Deployment", refused())

    asyncio.run(restarts())
    value = metrics.registry.get_sample_value
    assert value("acssmtp_restarts_total", {"kind": "Deployment", "result": "success"}) == 1
    assert value("acssmtp_restarts_total", {"kind": "Deployment", "result": "failed"}) == 1
    assert value("acssmtp_restarts_total", {"kind": "StatefulSet", "result": "failed"}) == 1
    assert "web-frontend" not in generate_latest(metrics.registry).decode()
