"""kopf handlers: decorators of a few lines each, calling the coordinator; the one failure-to-kopf mapping."""

from __future__ import annotations

import contextlib
from typing import Any, cast

import kopf

from acs_smtp_operator.coordinator import Coordinator
from acs_smtp_operator.failure import After, Failure, UntilSpecChanges
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.reconcile import Outcome
from acs_smtp_operator.schedule import MAX_BACKOFF, backoff
from acs_smtp_operator.vocabulary import GROUP, KIND, MANAGED_BY, PLURAL, ROTATE, VERSION

__all__ = ["build_registry", "kopf_error"]

RESOURCE = (GROUP, VERSION, PLURAL)


def kopf_error(failure: Failure, retry: int) -> kopf.PermanentError | kopf.TemporaryError:
    """A failure in kopf's words: not until the spec changes, or again after a delay."""
    if isinstance(failure.retry, UntilSpecChanges):
        return kopf.PermanentError(failure.message)
    if isinstance(failure.retry, After):
        return kopf.TemporaryError(failure.message, delay=min(failure.retry.seconds, MAX_BACKOFF))
    return kopf.TemporaryError(failure.message, delay=backoff(retry))


def _emitter(body: dict[str, Any]) -> Emit:
    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(kopf.Body(cast(kopf.RawBody, body)), type=type_, reason=reason, message=message)

    return emit


def build_registry(ports: Ports) -> kopf.OperatorRegistry:
    """All handlers, bound to one coordinator; one registry per operator instance."""
    registry = kopf.OperatorRegistry()
    coordinator = Coordinator(ports, _emitter)

    async def run(meta: dict[str, Any], retry: int) -> Outcome | None:
        """A pass for a change handler: kopf retries it after the delay a failure asks for."""
        try:
            outcome = await coordinator.run(str(meta["namespace"]), str(meta["name"]), str(meta["uid"]), True)
        except Failure as exc:
            raise kopf_error(exc, retry) from None
        if outcome is not None and outcome.failure is not None:
            raise kopf_error(outcome.failure, retry)
        return outcome

    @kopf.on.resume(*RESOURCE, id="reconcile", registry=registry)
    @kopf.on.create(*RESOURCE, id="reconcile", registry=registry)
    @kopf.on.update(*RESOURCE, id="reconcile", registry=registry)
    async def reconcile_credential(meta: kopf.Meta, retry: int, **_: Any) -> None:
        await run(dict(meta), retry)

    @kopf.on.event(*RESOURCE, id="rotate-request", registry=registry)
    async def rotate_on_request(event: kopf.RawEvent, **_: Any) -> None:
        """An unanswered acssmtp.io/rotate value wakes the scheduler (which backs off while passes fail).

        Raw events, not kopf's diff: kopf leaves annotations under its storage prefix (ours, acssmtp.io) out
        of the diff, so a change of acssmtp.io/rotate never reaches an update or field handler.
        """
        obj: dict[str, Any] = dict(event.get("object") or {})
        meta: dict[str, Any] = obj.get("metadata") or {}
        requested = (meta.get("annotations") or {}).get(ROTATE)
        handled = (obj.get("status") or {}).get("rotateRequestHandled")
        if event.get("type") in ("ADDED", "MODIFIED") and requested and requested != handled:
            coordinator.ask(str(meta.get("uid")))

    @kopf.daemon(*RESOURCE, id="schedule", cancellation_timeout=2.0, registry=registry)
    async def scheduler(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
        await coordinator.schedule(body, stopped.wait, lambda: bool(stopped))

    @kopf.index(*RESOURCE, id="assignments", registry=registry)
    def assignments(body: kopf.Body, **_: Any) -> dict[str, str] | None:
        found = (body.get("status") or {}).get("roleAssignmentId")
        return {str(found).lower(): str(body["metadata"]["uid"])} if found else None

    @kopf.on.delete(*RESOURCE, id="finalize", registry=registry)
    async def delete_credential(body: kopf.Body, retry: int, **kwargs: Any) -> None:
        index: kopf.Index[str, str] = kwargs["assignments"]
        mine = str((body.get("status") or {}).get("roleAssignmentId") or "").lower()
        uid = str(body["metadata"]["uid"])
        shared = any(other != uid for other in index.get(mine, [])) if mine else False
        try:
            await coordinator.finalize(dict(body), shared)
        except Failure as exc:
            raise kopf_error(exc, retry) from None

    @kopf.on.event("", "v1", "secrets", labels=MANAGED_BY, id="owned-secret", registry=registry)
    async def owned_secret_changed(event: kopf.RawEvent, **_: Any) -> None:
        """A managed Secret deleted or edited out of band is healed at once, not at the next drift check."""
        obj: dict[str, Any] = dict(event.get("object") or {})
        meta: dict[str, Any] = obj.get("metadata") or {}
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("kind") == KIND), None)
        if owner is None or event.get("type") not in ("DELETED", "MODIFIED"):
            return
        if event.get("type") == "MODIFIED" and coordinator.own_write(
            str(owner.get("uid")), meta.get("resourceVersion")
        ):
            return  # the write the last pass made itself
        with contextlib.suppress(Failure):  # a failed pass is retried by the credential's scheduler
            await coordinator.run(str(meta.get("namespace")), str(owner.get("name")), str(owner.get("uid")))

    return registry
