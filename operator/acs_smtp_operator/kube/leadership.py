"""Leader election on a coordination.k8s.io Lease, with the Kubernetes client's own elector.

With several replicas, exactly one holds the Lease and runs the reconcilers;
the others wait. The elector runs in a daemon thread (it is blocking code);
this module turns its callbacks into asyncio events and adds what it lacks:
giving the Lease up on a clean shutdown, so that a standby takes over at
once instead of after the lease duration.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

__all__ = ["Leadership"]

logger = logging.getLogger(__name__)


class _Lock(LeaseLock):
    """The client's LeaseLock on our ApiClient, which stops writing once the Lease is given up."""

    def __init__(self, api: client.ApiClient, name: str, namespace: str, identity: str) -> None:
        super().__init__(name, namespace, identity)
        self.api_instance = client.CoordinationV1Api(api)
        self.closed = threading.Event()

    # An unreachable API server is one more failed attempt (the elector retries until its deadline), not the
    # end of the elector: the client's lock lets only ApiException through as a failure.
    def get(self, name: str, namespace: str) -> tuple[bool, Any]:
        try:
            found: tuple[bool, Any] = super().get(name, namespace)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            logger.warning("Cannot read the Lease %s/%s: %s", namespace, name, type(exc).__name__)
            return False, exc
        return found

    def create(self, name: str, namespace: str, election_record: LeaderElectionRecord) -> bool:
        return self._write(super().create, name, namespace, election_record)

    def update(self, name: str, namespace: str, updated_record: LeaderElectionRecord) -> bool:
        return self._write(super().update, name, namespace, updated_record)

    def _write(self, write: Callable[..., Any], *args: Any) -> bool:
        if self.closed.is_set():
            return False
        try:
            return bool(write(*args))
        except (urllib3.exceptions.HTTPError, OSError):
            return False


class Leadership:
    """One replica's part in the election: `leading` once it holds the Lease, `lost` if it stops holding it."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        name: str,
        namespace: str,
        identity: str,
        lease_duration: int,
        renew_deadline: int,
        retry_period: int,
    ) -> None:
        self.identity, self.name, self.namespace = identity, name, namespace
        self.leading, self.lost = asyncio.Event(), asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._lock = _Lock(api, name, namespace, identity)
        self._leases = client.CoordinationV1Api(api)
        self._config = electionconfig.Config(
            self._lock,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            onstarted_leading=self._started,
            onstopped_leading=self._stopped,
        )
        self._thread = threading.Thread(target=self._elect, name="leader-election", daemon=True)

    def start(self) -> None:
        logger.info("Waiting to lead: Lease %s/%s as %s", self.namespace, self.name, self.identity)
        self._thread.start()

    def _elect(self) -> None:
        try:
            leaderelection.LeaderElection(self._config).run()
        except Exception:  # the elector's own loop died: leading is no longer safe
            logger.exception("Leader election failed")
            self._loop.call_soon_threadsafe(self.lost.set)

    def _started(self) -> None:
        logger.info("Leading: Lease %s/%s is held by %s", self.namespace, self.name, self.identity)
        self._loop.call_soon_threadsafe(self.leading.set)

    def _stopped(self) -> None:
        if not self._lock.closed.is_set():
            logger.error("Lost the Lease %s/%s: stopping so that only the new leader acts", self.namespace, self.name)
        self._loop.call_soon_threadsafe(self.lost.set)

    async def release(self) -> None:
        """Give the Lease up if we hold it (a clean shutdown), and never write it again."""
        self._lock.closed.set()
        if not self.leading.is_set():
            return
        try:
            lease: Any = await asyncio.to_thread(self._leases.read_namespaced_lease, self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            await asyncio.to_thread(self._leases.replace_namespaced_lease, self.name, self.namespace, lease)
            logger.info("Released the Lease %s/%s", self.namespace, self.name)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:  # a standby waits the lease out
            logger.warning("Could not release the Lease %s/%s: %s", self.namespace, self.name, type(exc).__name__)
