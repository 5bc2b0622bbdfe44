"""kopf handlers: thin wrappers that turn events and due times into `reconcile` / `finalize` calls."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import kopf

from acs_smtp_operator.azure.errors import AzureFailure
from acs_smtp_operator.kube.api import GROUP, PLURAL, VERSION, KubeConflict
from acs_smtp_operator.kube_secret import MANAGED_BY
from acs_smtp_operator.metrics import CURRENT
from acs_smtp_operator.plan import ROTATE, ledger_of, next_wake, parse_stamp
from acs_smtp_operator.reconcile import Credential, Outcome, Ports, finalize, reconcile, rollouts_done
from acs_smtp_operator.waiting import first

__all__ = ["build_registry"]

RESOURCE = (GROUP, VERSION, PLURAL)
MAX_BACKOFF = 600.0
ROLLOUT_POLL = timedelta(seconds=2)
MIN_INTERVAL = timedelta(seconds=1)


def _credential(body: kopf.Body) -> Credential:
    meta = body.get("metadata", {})
    return Credential(
        namespace=str(meta.get("namespace")),
        name=str(meta.get("name")),
        uid=str(meta.get("uid")),
        generation=int(meta.get("generation") or 0),
        spec=dict(body.get("spec") or {}),
        status=dict(body.get("status") or {}),
        annotations=dict(meta.get("annotations") or {}),
    )


def _emitter(body: kopf.Body) -> Any:
    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    return emit


def _backoff(retry: int, failure: AzureFailure | None) -> float:
    if failure is not None and failure.retry_after:
        return min(failure.retry_after, MAX_BACKOFF)
    return min(5.0 * float(2 ** min(retry, 7)), MAX_BACKOFF)


def _conclude(outcome: Outcome, retry: int) -> None:
    """Turn an outcome into kopf's vocabulary: retry later, or stop until the spec changes."""
    if outcome.invalid:
        raise kopf.PermanentError(outcome.invalid)
    if outcome.failure is not None:
        raise kopf.TemporaryError(outcome.failure.message, delay=_backoff(retry, outcome.failure))


class _Schedule:
    """Per credential: a lock (one pass at a time), a wake-up for its scheduler, and failures in a row."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.failures = 0
        self.status = status  # as the last pass left it: what the due times are computed from
        self.secret_version: str | None = None  # our own last write of the Secret, not an edit to heal


def build_registry(ports: Ports) -> kopf.OperatorRegistry:
    """All handlers, bound to the operator's ports; one registry per operator instance."""
    registry = kopf.OperatorRegistry()
    schedules: dict[str, _Schedule] = {}
    drift = timedelta(seconds=ports.settings.drift_period)

    async def run(body: kopf.Body) -> Outcome:
        uid = str(body["metadata"]["uid"])
        schedule = schedules.setdefault(uid, _Schedule(dict(body.get("status") or {})))
        token = CURRENT.set((str(body["metadata"]["namespace"]), str(body["metadata"]["name"])))
        try:
            async with schedule.lock:
                # Read it again under the lock: the event that brought us here may predate the last pass's status.
                fresh = await ports.kube.read_credential(body["metadata"]["namespace"], body["metadata"]["name"])
                if fresh is None or fresh["metadata"].get("uid") != uid:
                    return Outcome(status={})  # gone, or another object of the same name
                if fresh["metadata"].get("deletionTimestamp"):
                    return Outcome(status=dict(fresh.get("status") or {}))  # the finalizer's business now
                current = kopf.Body(cast(kopf.RawBody, fresh))
                try:
                    outcome = await reconcile(ports, _credential(current), datetime.now(UTC), _emitter(current))
                except KubeConflict as exc:
                    raise kopf.TemporaryError(f"the object changed meanwhile: {exc}", delay=1) from None
        finally:
            CURRENT.reset(token)
        schedule.failures = schedule.failures + 1 if outcome.failure else 0
        schedule.status = outcome.status
        if outcome.secret_version:
            schedule.secret_version = outcome.secret_version
        if outcome.wrote_status:
            schedule.wake.set()  # its due times may have moved
        return outcome

    @kopf.on.resume(*RESOURCE, id="reconcile", registry=registry)
    @kopf.on.create(*RESOURCE, id="reconcile", registry=registry)
    @kopf.on.update(*RESOURCE, id="reconcile", registry=registry)
    async def reconcile_credential(body: kopf.Body, retry: int, **_: Any) -> None:
        _conclude(await run(body), retry)

    @kopf.on.field(*RESOURCE, field="metadata.annotations", id="rotate-request", registry=registry)
    async def rotate_on_request(body: kopf.Body, retry: int, old: Any, new: Any, **_: Any) -> None:
        if (old or {}).get(ROTATE) != (new or {}).get(ROTATE):
            _conclude(await run(body), retry)

    @kopf.daemon(*RESOURCE, id="schedule", cancellation_timeout=2.0, registry=registry)
    async def scheduler(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        """Sleep until the credential is next due (renewal, a grace period's end, drift); no call in between."""
        schedule = schedules.setdefault(str(body["metadata"]["uid"]), _Schedule(dict(body.get("status") or {})))
        last = datetime.now(UTC)
        rollout_timeout = timedelta(seconds=ports.settings.rollout_timeout)
        while True:
            now = datetime.now(UTC)
            status = schedule.status
            ledger = ledger_of(status)
            due = next_wake(
                parse_stamp(status.get("renewalTime")),
                ledger,
                last + drift,
                parse_stamp(status.get("orphanCheckAt")),
                rollout_timeout,
            )
            if schedule.failures:  # failing: the change handlers retry with backoff; check again no sooner
                due = max(due, now + timedelta(seconds=_backoff(schedule.failures, None)))
            due = max(due, last + MIN_INTERVAL)  # never a tight loop, whatever status says
            wait = min(due, now + ROLLOUT_POLL) if ledger.pending else due
            schedule.wake.clear()
            if await first(schedule.wake.wait(), stopped.wait(), within=max((wait - now).total_seconds(), 0.0)):
                if stopped:
                    return  # the operator stops, or the credential is deleted: leave without being cancelled
                continue  # woken: the status changed, due times are recomputed
            if wait < due and not await rollouts_done(ports, str(body["metadata"]["namespace"]), body.get("spec")):
                continue  # still rolling out: Kubernetes reads only, no Azure call
            last = datetime.now(UTC)
            with contextlib.suppress(kopf.TemporaryError):
                await run(body)

    @kopf.index(*RESOURCE, id="assignments", registry=registry)
    def assignments(body: kopf.Body, **_: Any) -> dict[str, str] | None:
        found = (body.get("status") or {}).get("roleAssignmentId")
        return {str(found).lower(): str(body["metadata"]["uid"])} if found else None

    @kopf.on.delete(*RESOURCE, id="finalize", registry=registry)
    async def delete_credential(body: kopf.Body, **kwargs: Any) -> None:
        index: kopf.Index[str, str] = kwargs["assignments"]
        cr = _credential(body)
        mine = str(cr.status.get("roleAssignmentId") or "").lower()
        shared = any(uid != cr.uid for uid in index.get(mine, [])) if mine else False
        token = CURRENT.set((cr.namespace, cr.name))
        try:
            await finalize(ports, cr, shared, _emitter(body))
        except AzureFailure as exc:
            raise kopf.TemporaryError(exc.message, delay=_backoff(0, exc)) from None
        finally:
            CURRENT.reset(token)
        ports.metrics.forget(cr.namespace, cr.name)
        schedules.pop(cr.uid, None)

    @kopf.on.event("", "v1", "secrets", labels=MANAGED_BY, id="owned-secret", registry=registry)
    async def owned_secret_changed(event: kopf.RawEvent, **_: Any) -> None:
        """A managed Secret deleted or edited out of band is healed at once, not at the next drift check."""
        obj: dict[str, Any] = dict(event.get("object") or {})
        meta: dict[str, Any] = obj.get("metadata") or {}
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("kind") == "AcsSmtpCredential"), None)
        if owner is None or event.get("type") not in ("DELETED", "MODIFIED"):
            return
        mine = schedules.get(str(owner.get("uid")))
        if event.get("type") == "MODIFIED" and mine is not None and mine.secret_version == meta.get("resourceVersion"):
            return  # the write the last pass made itself
        credential = {
            "apiVersion": owner.get("apiVersion"),
            "kind": owner.get("kind"),
            "metadata": {"namespace": meta.get("namespace"), "name": owner.get("name"), "uid": owner.get("uid")},
        }
        with contextlib.suppress(kopf.TemporaryError):  # its own handlers retry
            await run(kopf.Body(cast(kopf.RawBody, credential)))

    return registry
