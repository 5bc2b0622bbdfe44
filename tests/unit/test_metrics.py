from prometheus_client import generate_latest

from acs_smtp_operator.metrics import CURRENT, Metrics, route
from acs_smtp_operator.status import Status


def test_operations_are_labelled_without_ids_or_names() -> None:
    """Label values must stay few and never carry an id (or anything secret)."""
    assert (
        route("post", "/v1.0/applications/6f1c3b1e-5a0e-4d5b-9a43-0c0ffee0ac50/addPassword") == "POST {id}/addPassword"
    )
    assert (
        route("get", "/v1.0/applications(appId='6f1c3b1e-5a0e-4d5b-9a43-0c0ffee0ac50')")
        == "GET v1.0/applications(appId={id})"
    )
    assert (
        route(
            "put",
            "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Communication/"
            "communicationServices/shop/smtpUsernames/alice",
        )
        == "PUT smtpUsernames/{name}"
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
    assert value("acssmtp_rotations_total", {**labels, "reason": "RenewalDue", "result": "failed"}) == 1
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


def test_a_forgotten_credential_leaves_no_series_counters_included() -> None:
    """A deleted credential's rotations and Azure calls go with it; another's stay."""
    metrics = Metrics()
    for name in ("gone", "kept"):
        metrics.credential("ns", name, Status.read({}))
        metrics.rotation("ns", name, "RenewalDue", "success")
        token = CURRENT.set(("ns", name))
        try:
            metrics.azure_call(
                "graph", "POST", "/v1.0/applications/6f1c3b1e-5a0e-4d5b-9a43-0c0ffee0ac50/addPassword", 200
            )
        finally:
            CURRENT.reset(token)
    metrics.forget("ns", "gone")
    page = generate_latest(metrics.registry).decode()
    assert 'name="gone"' not in page
    assert 'acssmtp_rotations_total{name="kept"' in page and 'acssmtp_azure_requests_total{api="graph"' in page
