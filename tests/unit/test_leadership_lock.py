"""The Lease lock survives an unreachable API server: a failed attempt, retried, not a dead elector."""

from __future__ import annotations

import socket

from kubernetes import client
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord

from acs_smtp_operator.kube.leadership import _Lock


def unreachable() -> client.ApiClient:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = 0
    return client.ApiClient(configuration)


def test_an_unreachable_api_server_is_a_failed_attempt() -> None:
    lock = _Lock(unreachable(), "acs-smtp-operator", "default", "me")
    found, _ = lock.get("acs-smtp-operator", "default")
    assert found is False
    record = LeaderElectionRecord("me", "15", "2026-11-28 10:00:00", "2026-11-28 10:00:00")  # type: ignore[no-untyped-call]
    assert lock.create("acs-smtp-operator", "default", record) is False
