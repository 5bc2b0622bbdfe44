"""The coordinator: per credential one pass at a time, its schedule, and the filter for our own writes.

kopf's handlers call it; it calls `reconcile` and `finalize`. It owns all the state that lives between
passes: a lock, a wake-up event, the failures in a row, the last status, the Secret version we wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from acs_smtp_operator.credential import Credential
from acs_smtp_operator.failure import Failure
from acs_smtp_operator.finalize import finalize
from acs_smtp_operator.ids import canonical
from acs_smtp_operator.model import Spec
from acs_smtp_operator.observe import rollouts_done
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.reconcile import Outcome, reconcile
from acs_smtp_operator.rotation import deferred_rotation
from acs_smtp_operator.schedule import MIN_INTERVAL, Streak, drift_due, next_streak, phase, wake
from acs_smtp_operator.slots import Slot, TargetLocks
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Permission, Tenancy, as_recorded, deletion_scope, permission
from acs_smtp_operator.waiting import first

__all__ = ["Coordinator"]

_FINALIZED_KEPT = 600.0  # seconds a finished deletion is remembered: far beyond a watch event's lag

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
EmitFor = Callable[[dict[str, Any]], Emit]  # the Event poster for a credential's object
TenancySource = Callable[[], Tenancy]  # the policies and namespace labels, as the operator's indexes hold them
# (role assignment id, uid, uids to leave out): does another credential record it as its own?
Shared = Callable[[str, str, Collection[str]], bool]


@dataclass(kw_only=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    streak: Streak = field(default_factory=Streak)
    status: Status = field(default_factory=Status)  # as the last pass left it: the due times come from it
    passed: bool = False  # a pass has finished: `status` is its own, not the stored one
    asked: bool = False  # an unanswered rotation request was seen: the scheduler runs a pass now
    secret_version: str | None = None  # our own last write of the Secret, not an edit to heal
    namespace: str | None = None
    body: Mapping[str, Any] | None = None  # kopf's live view of the object (its spec), while a scheduler runs
    permission: Permission = None  # what the last pass was told by the policies
    recheck: bool = False  # a policy or namespace change altered the permission: the scheduler runs a pass now
    cooldown: datetime | None = None  # a key was issued here: asks wait until then (this process's own record)


class Coordinator:
    def __init__(
        self,
        ports: Ports,
        emit_for: EmitFor,
        tenancy: TenancySource,
        *,
        clock: Clock,
        shared: Shared = lambda assignment, uid, finalized: True,  # unknown: shared, so never removed
    ) -> None:
        self.ports, self.emit_for, self.tenancy, self.clock, self._indexed = ports, emit_for, tenancy, clock, shared
        self._entries: dict[str, _Entry] = {}
        # Credentials whose deletion finished here, and when: kopf's index lists them until the watch reports them
        # gone, and a credential deleted with them (a namespace's teardown) must not keep an assignment for them.
        self._finalized: dict[str, float] = {}
        # One lock per (application, ACS resource): credentials naming the same pair share one role assignment
        # (its id derives from them), so a deletion that may remove it waits for a pass that may adopt it.
        self._targets = TargetLocks()
        # At most this many passes and deletions call Azure at once, whatever wakes them (a restart, a policy
        # change reaching many credentials): the rest wait their turn, holding no connection.
        self._passes = asyncio.Semaphore(ports.settings.max_concurrent_passes)

    def _permission(self, spec: Mapping[str, Any] | None, namespace: str, tenancy: Tenancy) -> Permission:
        settings = self.ports.settings
        return permission(
            spec, namespace, tenancy, tenant_id=self.ports.tenant_id, smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
        )  # fmt: skip

    def shared(self, assignment: str, uid: str) -> bool:
        """Does another credential record this role assignment as its own? Asked of kopf's index, and of the
        statuses passes here have just written (the index learns them a watch event later)."""
        wanted = canonical(assignment)
        recorded = any(
            other != uid and canonical(entry.status.role_assignment_id or "") == wanted
            for other, entry in self._entries.items()
        )
        return recorded or self._indexed(assignment, uid, self._finalized.keys())

    def _done_with(self, uid: str) -> None:
        """`uid`'s deletion is finished: no longer anyone's sharer. Kept a while, beyond any watch's lag."""
        now = time.monotonic()
        self._finalized = {u: at for u, at in self._finalized.items() if now - at < _FINALIZED_KEPT}
        self._finalized[uid] = now

    def _entry(self, uid: str, status: Mapping[str, Any] | None = None) -> _Entry:
        """The credential's entry; a new one, or one no pass has finished yet, takes `status` as stored."""
        entry = self._entries.setdefault(uid, _Entry())
        if status and not entry.passed:
            entry.status = Status.read(dict(status))
        return entry

    async def run(self, namespace: str, name: str, uid: str, retried_by_kopf: bool = False) -> Outcome | None:
        """One pass over a fresh read, under the credential's lock; None when it is gone or being deleted.

        `retried_by_kopf`: a kopf change handler asks, and kopf retries it if it fails.
        """
        entry = self._entry(uid)
        try:
            async with entry.lock:
                # Read it again under the lock: the event that brought us here may predate the last pass's status.
                fresh = await self.ports.kube.read_credential(namespace, name)
                if fresh is None or fresh["metadata"].get("uid") != uid:
                    self._entries.pop(uid, None)  # gone, or another object of the same name
                    return None
                if fresh["metadata"].get("deletionTimestamp"):
                    return None  # the finalizer's business now
                self._entry(uid, fresh.get("status"))
                entry.namespace, entry.recheck = namespace, False
                issued_before = Status.read(fresh.get("status")).issued_at
                async with self._targets.hold(fresh), self._passes:  # a slot only once nothing else is awaited
                    now, tenancy = self.clock(), self.tenancy()
                    outcome = await self.ports.metrics.timed_pass(
                        reconcile(
                            self.ports,
                            Credential.of(fresh),
                            now,
                            self.emit_for(fresh),
                            tenancy,
                            lambda assignment: self.shared(assignment, uid),
                        )
                    )
                    entry.status = outcome.status  # before the target is free: a deletion asks `shared` of it
        except Failure as exc:  # no pass (the API server unreachable, a write conflict): back off all the same
            entry.streak = self._streak(
                entry.streak, Outcome(status=entry.status, failure=exc), self.clock(), retried_by_kopf
            )
            if not retried_by_kopf:
                entry.wake.set()  # the scheduler retries it: its due time moved
            raise
        # The streak's time is the pass's end: a backoff counted from its start could be over before it ended.
        entry.streak = self._streak(entry.streak, outcome, self.clock(), retried_by_kopf)
        if outcome.status.issued_at is not None and outcome.status.issued_at != issued_before:
            entry.cooldown = self.clock() + timedelta(seconds=self.ports.settings.min_manual_interval)
        entry.status, entry.passed, entry.permission = outcome.status, True, outcome.permission
        if outcome.secret_version:
            entry.secret_version = outcome.secret_version
        if outcome.wrote_status or (outcome.failure is not None and not retried_by_kopf):
            entry.wake.set()  # its due times moved (or the scheduler is to retry this failure)
        return outcome

    def _streak(self, before: Streak, outcome: Outcome, now: datetime, retried_by_kopf: bool) -> Streak:
        settings = self.ports.settings
        return next_streak(
            before,
            outcome.failure,
            outcome.status,
            now,
            retried_by_kopf=retried_by_kopf,
            spread=random.random(),  # noqa: S311 - spreading retries, not a secret
            periods=(settings.drift_period, settings.rollout_timeout, settings.graph_lag),
        )

    async def schedule(
        self, body: Mapping[str, Any], stopped: Callable[[], Awaitable[object]], is_stopped: Callable[[], bool]
    ) -> None:
        """Sleep until the credential is next due (renewal, a grace period's end, drift); no call in between.

        `body` is kopf's live view of the object: its spec is read afresh at each wake-up.
        """
        meta = body["metadata"]
        namespace, name, uid = str(meta["namespace"]), str(meta["name"]), str(meta["uid"])
        entry = self._entry(uid, body.get("status"))
        entry.namespace, entry.body = namespace, body
        settings = self.ports.settings
        drift, rollout_timeout = timedelta(seconds=settings.drift_period), timedelta(seconds=settings.rollout_timeout)
        # The pass that found it (create, or resume at start-up) was just now. Drift checks keep to the
        # credential's own phase of the period: credentials started together are not checked together.
        last, share = self.clock(), phase(uid)
        while True:
            now = self.clock()
            deferred = deferred_rotation(
                entry.permission, entry.status, body, now, self.ports.settings.min_manual_interval
            )
            when = wake(
                entry.status,
                last,
                now,
                max(drift_due(last, drift, share) - last, MIN_INTERVAL),
                rollout_timeout,
                entry.streak,
                entry.asked,
                entry.recheck,
                deferred,
                timedelta(seconds=settings.graph_lag),
                entry.cooldown,
            )
            entry.wake.clear()
            if await first(entry.wake.wait(), stopped(), within=max((when.look - now).total_seconds(), 0.0)):
                if is_stopped():
                    return  # the operator stops, or the credential is deleted: leave without being cancelled
                continue  # woken: the status changed, due times are recomputed
            if when.rollout_check and not await self._rolled_out(namespace, body.get("spec")):
                continue  # still rolling out: Kubernetes reads only, no Azure call
            last, entry.asked, entry.recheck = self.clock(), False, False
            with contextlib.suppress(Failure):  # retried from here: the streak moves the next due time
                await self.run(namespace, name, uid)

    async def _rolled_out(self, namespace: str, spec: dict[str, Any] | None) -> bool:
        try:
            targets = Spec.parse(spec or {}).restart_targets
        except ValueError:
            return True
        return await rollouts_done(self.ports, namespace, targets)

    def heal(self, namespace: str, uid: str) -> None:
        """A Secret claiming credential `uid` of `namespace` as its owner was deleted or edited: a pass, as for
        `ask`, if this process serves that credential there (a Secret elsewhere naming its uid is ignored)."""
        entry = self._entries.get(uid)
        if entry is not None and entry.namespace == namespace:
            self.ask(uid)

    def ask(self, uid: str, urgent: bool = False) -> None:
        """A rotation was requested and not yet answered, or the Secret was deleted or edited: the credential's
        scheduler runs a pass now (unless passes fail: then when their backoff ends). `urgent`: an emergency
        revocation, which this process's cooldown after a new key does not hold (the policy bounds it per day)."""
        entry = self._entry(uid)
        if urgent:
            entry.cooldown = None
        if not entry.asked:
            entry.asked = True
            entry.wake.set()

    def tenancy_changed(self, namespaces: set[str] | None = None) -> None:
        """A policy (None: any namespace) or a namespace's labels changed: a credential whose permission
        differs now is passed at once; the others are left alone (no Azure read for an unrelated change)."""
        tenancy = self.tenancy()
        for entry in self._entries.values():
            if entry.body is None or entry.namespace is None:
                continue
            if namespaces is not None and entry.namespace not in namespaces:
                continue
            try:
                now = self._permission(entry.body.get("spec"), entry.namespace, tenancy)
            except Exception:  # one credential's surprise must not stop the others' re-check
                log.exception("permission of a credential in %s could not be decided", entry.namespace)
                now = None

            if now != entry.permission and not entry.recheck:
                entry.recheck = True
                entry.wake.set()

    def own_write(self, owner_uid: str, resource_version: str | None) -> bool:
        """Is this Secret version the one the credential's last pass wrote itself?"""
        entry = self._entries.get(owner_uid)
        return entry is not None and resource_version is not None and entry.secret_version == resource_version

    async def finalize(self, body: dict[str, Any]) -> None:
        """Undo the credential in Azure, after any pass in flight (which could still add a key) has ended.

        The object is read again once the lock is held: that pass may have recorded what it did in status.
        Whether a policy permits it is asked of what status records it acted on, not of a later edit.
        """
        cr = Credential.of(body)
        async with self._entry(cr.uid).lock:
            fresh = await self.ports.kube.read_credential(cr.namespace, cr.name)
            if fresh is not None and fresh["metadata"].get("uid") == cr.uid:
                body, cr = fresh, Credential.of(fresh)
            tenancy = self.tenancy()
            decided = self._permission(as_recorded(cr.spec, Status.read(cr.status)), cr.namespace, tenancy)
            scope = deletion_scope(decided, tenancy, cr.namespace, cr.spec, Status.read(cr.status))
            uid = cr.uid
            async with self._targets.hold(body), Slot(self._passes) as slot:
                await finalize(
                    self.ports,
                    cr,
                    self.emit_for(body),
                    scope.grant,
                    lambda assignment: self.shared(assignment, uid),
                    scope.target,
                    scope.covers,
                    slot.pause,
                    clock=self.clock,
                )
        self.ports.metrics.forget(cr.namespace, cr.name)
        self._entries.pop(cr.uid, None)
        self._done_with(cr.uid)
