"""The coordinator: per credential one pass at a time, its schedule, and the filter for our own writes.

kopf's handlers call it; it calls `reconcile` and `finalize`. It owns all the state that lives between
passes: a lock, a wake-up event, the failures in a row, the last status, the Secret version we wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from acs_smtp_operator.credential import Credential
from acs_smtp_operator.failure import After, Failure, UntilSpecChanges
from acs_smtp_operator.finalize import finalize
from acs_smtp_operator.ids import canonical
from acs_smtp_operator.model import Reason, Spec
from acs_smtp_operator.observe import rollouts_done
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.reconcile import Outcome, reconcile
from acs_smtp_operator.rotation import held_back, last_issue
from acs_smtp_operator.schedule import MIN_INTERVAL, Streak, drift_due, natural_due, wake
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Grant, Tenancy, permit, permits_target
from acs_smtp_operator.validate import validate
from acs_smtp_operator.vocabulary import ROTATE
from acs_smtp_operator.waiting import first

__all__ = ["Coordinator", "phase"]

_FINALIZED_KEPT = 600.0  # seconds a finished deletion is remembered: far beyond a watch event's lag

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
EmitFor = Callable[[dict[str, Any]], Emit]  # the Event poster for a credential's object
TenancySource = Callable[[], Tenancy]  # the policies and namespace labels, as the operator's indexes hold them
# (role assignment id, uid, uids to leave out): does another credential record it as its own?
Shared = Callable[[str, str, Collection[str]], bool]
Permission = Grant | str | None  # permitted by, refused because, or not decided (the spec is invalid)


def permission(ports: Ports, namespace: str, spec: Mapping[str, Any] | None, tenancy: Tenancy) -> Permission:
    """What the policies say of a credential's spec: pure, no call (as the pass's first steps decide it)."""
    settings = ports.settings
    try:
        return permit(
            validate(dict(spec or {}), ports.tenant_id, settings.smtp_host, settings.smtp_port), namespace, tenancy
        )
    except Failure as refused:
        return refused.message if refused.reason == Reason.NOT_PERMITTED else None


def phase(uid: str) -> float:
    """A fraction in [0, 1) fixed by the credential's uid (the same after a restart)."""
    digest = hashlib.sha256(uid.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


class _Slot:
    """One of the passes' slots, which a deletion waiting out Graph's lag gives back meanwhile (create/delete
    loops must not hold the slots other credentials' passes wait for). Released once, cancelled or not."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots, self._held = slots, False

    async def __aenter__(self) -> _Slot:
        await self._slots.acquire()
        self._held = True
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._held:
            self._held = False
            self._slots.release()

    async def pause(self, seconds: float) -> None:
        """Wait `seconds` without the slot, then take one again (a cancellation meanwhile leaves none held)."""
        self._held = False
        self._slots.release()
        await asyncio.sleep(seconds)
        await self._slots.acquire()
        self._held = True


def _deferred_rotation(entry: _Entry, body: Mapping[str, Any], now: datetime, floor: float) -> datetime | None:
    """When a rotation request the policy's minRotationInterval (at least `floor` seconds) holds back may be served."""
    if not isinstance(entry.permission, Grant):
        return None
    requested = ((body.get("metadata") or {}).get("annotations") or {}).get(ROTATE)
    status = entry.status
    least = max(entry.permission.min_rotation_interval, timedelta(seconds=floor))
    last = last_issue(status.last_rotation_time, status.issued_at)
    return held_back(requested, status.rotate_request_handled, last, least, now)


def _as_recorded(cr: Credential) -> dict[str, Any]:
    """The spec, with the application and resource status records the credential acted on."""
    spec, status = dict(cr.spec), Status.read(cr.status)
    if status.client_id:
        spec["entraApplication"] = {**dict(spec.get("entraApplication") or {}), "clientId": status.client_id}
    if status.communication_service_id:
        spec["communicationService"] = {"resourceId": status.communication_service_id}
    return spec


class Coordinator:
    def __init__(
        self,
        ports: Ports,
        emit_for: EmitFor,
        tenancy: TenancySource,
        clock: Clock = _utcnow,
        shared: Shared = lambda assignment, uid, finalized: True,  # unknown: shared, so never removed
    ) -> None:
        self.ports, self.emit_for, self.tenancy, self.clock, self._indexed = ports, emit_for, tenancy, clock, shared
        self._entries: dict[str, _Entry] = {}
        # Credentials whose deletion finished here, and when: kopf's index lists them until the watch reports them
        # gone, and a credential deleted with them (a namespace's teardown) must not keep an assignment for them.
        self._finalized: dict[str, float] = {}
        # One lock per (application, ACS resource): credentials naming the same pair share one role assignment
        # (its id derives from them), so a deletion that may remove it waits for a pass that may adopt it.
        self._targets: dict[tuple[str, str], asyncio.Lock] = {}
        # At most this many passes and deletions call Azure at once, whatever wakes them (a restart, a policy
        # change reaching many credentials): the rest wait their turn, holding no connection.
        self._passes = asyncio.Semaphore(ports.settings.max_concurrent_passes)

    @contextlib.asynccontextmanager
    async def _targets_of(self, body: Mapping[str, Any]) -> AsyncIterator[None]:
        """Hold the locks of what status records the credential acted on and of what its spec names now (a
        retarget touches both), taken in one order so that two credentials never wait on each other."""
        status, spec = body.get("status") or {}, body.get("spec") or {}
        pairs = {
            (str(status.get("clientId") or "").lower(), canonical(str(status.get("communicationServiceId") or ""))),
            (
                str((spec.get("entraApplication") or {}).get("clientId") or "").lower(),
                canonical(str((spec.get("communicationService") or {}).get("resourceId") or "")),
            ),
        }
        async with contextlib.AsyncExitStack() as stack:
            for pair in sorted(p for p in pairs if any(p)):
                await stack.enter_async_context(self._targets.setdefault(pair, asyncio.Lock()))
            yield

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
                async with self._targets_of(fresh), self._passes:  # a slot only once nothing else is awaited
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
        failure = outcome.failure
        if failure is not None:
            return Streak(
                failures=before.failures + 1,
                retry_after=failure.retry.seconds if isinstance(failure.retry, After) else None,
                retried_by_kopf=retried_by_kopf or isinstance(failure.retry, UntilSpecChanges),
                at=now,
                spread=random.random(),  # noqa: S311 - spreading retries, not a secret
            )
        settings = self.ports.settings
        due = natural_due(
            outcome.status,
            now,
            timedelta(seconds=settings.drift_period),
            timedelta(seconds=settings.rollout_timeout),
            timedelta(seconds=settings.graph_lag),
        )
        return Streak(behind=before.behind + 1, at=now) if due <= now else Streak()

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
            deferred = _deferred_rotation(entry, body, now, self.ports.settings.min_manual_interval)
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
                now = permission(self.ports, entry.namespace, entry.body.get("spec"), tenancy)
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
            decided = permission(self.ports, cr.namespace, _as_recorded(cr), tenancy)
            grant = decided if isinstance(decided, Grant) else None
            # Whether the namespace may use the recorded application and resource at all (whatever the
            # spec says now): role assignments, shared by whoever uses them, go only then, and only from a
            # resource the namespace may use with that application.
            status, namespace, uid = Status.read(cr.status), cr.namespace, cr.uid
            app = status.client_id or str((cr.spec.get("entraApplication") or {}).get("clientId") or "")
            resource = status.communication_service_id or str(
                (cr.spec.get("communicationService") or {}).get("resourceId") or ""
            )
            target = grant is not None or permits_target(tenancy, namespace, app, resource)

            def covers(resource_id: str) -> bool:
                return permits_target(tenancy, namespace, app, resource_id)

            async with self._targets_of(body), _Slot(self._passes) as slot:
                await finalize(
                    self.ports,
                    cr,
                    self.emit_for(body),
                    grant,
                    lambda assignment: self.shared(assignment, uid),
                    target,
                    covers,
                    slot.pause,
                    clock=self.clock,
                )
        self.ports.metrics.forget(cr.namespace, cr.name)
        self._entries.pop(cr.uid, None)
        self._done_with(cr.uid)
