"""High availability: two replicas, one Lease; exactly one reconciles, and the other takes over when it stops."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import ROOT, Cloud, Operator
from tests.integration.operator_helpers import apply, eventually, get, secret_data, wait_ready


def metric(operator: Operator, name: str) -> float:
    """The sum of a metric's samples on this replica (its own /metrics, parsed by prometheus-client)."""
    body = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
    return sum(s.value for family in text_string_to_metric_families(body) for s in family.samples if s.name == name)


def azure_calls(operator: Operator) -> float:
    return metric(operator, "acssmtp_azure_requests_total")


def leader_gauge(operator: Operator) -> float:
    return metric(operator, "acssmtp_leader")


def holder(cloud: Cloud, operator: Operator) -> str | None:
    lease = get(cloud, operator.env["ACSSMTP_LEASE_NAMESPACE"], "lease", "acs-smtp-operator") or {}
    return (lease.get("spec") or {}).get("holderIdentity")


@pytest.fixture
def pair(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Operator, Operator]]:
    cloud.kubectl("apply", "-f", str(ROOT / "crds"))
    first = Operator(cloud, tmp_path_factory.mktemp("replica"))
    second = Operator(cloud, tmp_path_factory.mktemp("replica"))
    first.start("leader")
    second.start("standby")
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def test_one_replica_reconciles_and_the_other_takes_over_when_it_stops(
    cloud: Cloud, ns: str, pair: tuple[Operator, Operator]
) -> None:
    leader, standby = pair
    assert holder(cloud, leader) == leader.env["ACSSMTP_IDENTITY"]
    apply(cloud, ns, "first")
    wait_ready(cloud, ns, "first")
    time.sleep(3)  # room for the standby to (wrongly) act too
    assert azure_calls(leader) > 0
    assert azure_calls(standby) == 0, "the standby called Azure"
    assert (leader_gauge(leader), leader_gauge(standby)) == (1, 0)
    assert standby.role() == "standby"

    started = time.monotonic()
    leader.stop()  # SIGTERM: the leader gives the Lease up on its way out
    standby.wait_role("leader", timeout=30)
    took = time.monotonic() - started
    assert took < 5, f"a clean handover took {took:.1f} s (the Lease was not released?)"
    assert holder(cloud, standby) == standby.env["ACSSMTP_IDENTITY"]

    apply(cloud, ns, "second")
    wait_ready(cloud, ns, "second")
    assert secret_data(cloud, ns, "second-smtp")
    assert azure_calls(standby) > 0


def test_a_killed_leader_is_replaced_once_its_lease_lapses(
    cloud: Cloud, ns: str, pair: tuple[Operator, Operator]
) -> None:
    leader, standby = pair
    leader.kill()  # SIGKILL: the Lease stays held until it lapses
    standby.wait_role("leader", timeout=30)
    apply(cloud, ns, "after-kill")
    wait_ready(cloud, ns, "after-kill")

    # The killed replica comes back (same pod name) while the other leads: it stands by.
    leader.start("standby")
    time.sleep(3)
    assert holder(cloud, standby) == standby.env["ACSSMTP_IDENTITY"]
    assert azure_calls(leader) == 0
    eventually(lambda: leader.role() == "standby", 10, "the restarted replica to stand by")


def test_a_leader_that_loses_its_lease_stops_reconciling_and_exits(
    cloud: Cloud, ns: str, pair: tuple[Operator, Operator]
) -> None:
    leader, standby = pair
    lease_ns = leader.env["ACSSMTP_LEASE_NAMESPACE"]
    # Someone else (a partitioned-away replica's successor) now holds the Lease.
    cloud.kubectl(
        "patch", "lease", "acs-smtp-operator", "-n", lease_ns, "--type=merge",
        "-p", '{"spec": {"holderIdentity": "another-replica", "leaseDurationSeconds": 600}}',
    )  # fmt: skip
    assert leader.process is not None
    code = leader.process.wait(timeout=30)
    assert code == 1, leader.log.read_text()[-2000:]
    assert "Lost the Lease" in leader.log.read_text()
    assert standby.role() == "standby"  # the Lease is held, though not by it
