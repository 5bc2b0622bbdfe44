"""kopf handlers: decorators of a few lines each, calling the coordinator; the one failure-to-kopf mapping."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from typing import Any, cast

import kopf

from acs_smtp_operator.coordinator import Coordinator
from acs_smtp_operator.failure import After, Failure, UntilSpecChanges
from acs_smtp_operator.ids import canonical
from acs_smtp_operator.model import Reason, is_guid
from acs_smtp_operator.policy import PolicyView, policy_view
from acs_smtp_operator.policy_report import PolicyReporter
from acs_smtp_operator.ports import Emit, Ports
from acs_smtp_operator.reconcile import Outcome
from acs_smtp_operator.rotation import revocation_asked
from acs_smtp_operator.schedule import MAX_BACKOFF, backoff
from acs_smtp_operator.sweep import Sweeper
from acs_smtp_operator.tenancy import Tenancy
from acs_smtp_operator.vocabulary import GROUP, KIND, MANAGED_BY, PLURAL, POLICY_PLURAL, REVOKE, ROTATE, VERSION

__all__ = ["build_registry", "kopf_error"]

RESOURCE = (GROUP, VERSION, PLURAL)


def kopf_error(failure: Failure, retry: int) -> kopf.PermanentError | kopf.TemporaryError:
    """A failure in kopf's words: not until the spec changes, or again after a delay."""
    if isinstance(failure.retry, UntilSpecChanges):
        return kopf.PermanentError(failure.message)
    if isinstance(failure.retry, After):
        return kopf.TemporaryError(failure.message, delay=min(failure.retry.seconds, MAX_BACKOFF))
    return kopf.TemporaryError(failure.message, delay=backoff(retry, spread=random.random()))  # noqa: S311


def _emitter(body: dict[str, Any]) -> Emit:
    def emit(type_: str, reason: str, message: str) -> None:
        kopf.event(kopf.Body(cast(kopf.RawBody, body)), type=type_, reason=reason, message=message)

    return emit


class _Labels(Mapping[str, Mapping[str, str]]):
    """The namespaces' labels, as a mapping over kopf's index (no copy)."""

    def __init__(self, index: kopf.Index[str, dict[str, str]]) -> None:
        self._index = index

    def __getitem__(self, name: str) -> Mapping[str, str]:
        return next(iter(self._index[name]), {})

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


class Indexes:
    """kopf's indexes of the policies, the namespaces' labels and the credentials' policies, as handlers get them.

    kopf starts no handler before every index holds its initial listing, so a pass never sees a partial
    set of policies; each handler hands its indexes over before anything reads them.
    """

    def __init__(self) -> None:
        self._policies: kopf.Index[str, PolicyView] | None = None
        self._labels: kopf.Index[str, dict[str, str]] | None = None
        self._usage: kopf.Index[str, str] | None = None
        self._assignments: kopf.Index[str, str] | None = None
        self._alive: kopf.Index[tuple[str, str, str], tuple[str, ...]] | None = None

    def capture(self, kwargs: dict[str, Any]) -> None:
        self._policies, self._labels, self._usage = kwargs["policies"], kwargs["namespace_labels"], kwargs["usage"]
        self._assignments, self._alive = kwargs["assignments"], kwargs["alive"]

    def known(self) -> tuple[set[str], set[tuple[str, str, str]]]:
        """For the sweep: the applications credentials and policies name, and the credentials that exist."""
        apps = {a for view in self.tenancy().policies if view.spec is not None for a in view.spec.applications}
        if self._alive is None:
            raise Failure(Reason.OPERATOR_ERROR, "the credentials' index is not ready")
        alive = set(self._alive)
        apps.update(a for store in self._alive.values() for named in store for a in named)
        return apps, alive

    def tenancy(self) -> Tenancy:
        if self._policies is None or self._labels is None:
            return Tenancy()  # no handler ran yet: nothing is permitted
        return Tenancy(
            policies=tuple(view for store in self._policies.values() for view in store),
            namespaces=_Labels(self._labels),  # read through: a pass looks up one namespace, not all
        )

    def shared(self, assignment: str, uid: str, finalized: Collection[str] = ()) -> bool:
        """Does a credential other than `uid` (and than those whose deletion has finished) record this role
        assignment as its own?"""
        if self._assignments is None:
            return True  # unknown: never remove it
        key = canonical(assignment)
        sharers: Collection[str] = self._assignments.get(key, ())
        return any(other != uid and other not in finalized for other in sharers)

    def usage(self) -> dict[str, int]:
        return {} if self._usage is None else {name: len(store) for name, store in self._usage.items()}


def build_registry(
    ports: Ports, clock: Callable[[], datetime], watched: Collection[str] | None = None
) -> kopf.OperatorRegistry:
    """All handlers, bound to one coordinator; one registry per operator instance.

    `watched`: the namespaces served (None: every namespace).
    """
    registry = kopf.OperatorRegistry()
    indexes = Indexes()
    coordinator = Coordinator(ports, _emitter, indexes.tenancy, clock=clock, shared=indexes.shared)
    reporter = PolicyReporter(ports.kube, indexes.tenancy, indexes.usage, watched)
    sweeper = Sweeper(ports=ports, known=indexes.known, clock=clock, watched=watched)

    def capture(kwargs: dict[str, Any]) -> None:
        """Every handler hands kopf's indexes over; the sweep starts once they hold the initial listing."""
        indexes.capture(kwargs)
        sweeper.start()

    @kopf.index(GROUP, VERSION, POLICY_PLURAL, id="policies", registry=registry)
    def policies(body: kopf.Body, **_: Any) -> dict[str, PolicyView]:
        return {str(body["metadata"]["name"]): policy_view(body)}

    @kopf.index("", "v1", "namespaces", id="namespace_labels", registry=registry)
    def namespace_labels(body: kopf.Body, **_: Any) -> dict[str, dict[str, str]]:
        return {str(body["metadata"]["name"]): dict(body["metadata"].get("labels") or {})}

    @kopf.index(*RESOURCE, id="usage", registry=registry)
    def usage(body: kopf.Body, **_: Any) -> dict[str, str] | None:
        policy = (body.get("status") or {}).get("policy")
        return {str(policy): str(body["metadata"]["uid"])} if policy else None

    seen: dict[tuple[str, str], object] = {}  # what tenancy depends on, per policy, namespace and credential

    def moved(kind: str, event: kopf.RawEvent, now: object) -> bool:
        """Did what tenancy depends on change? (Not another status write, ours included, nor a timestamp.)

        Keyed by uid: names repeat across namespaces, and a re-created object is a new one.
        """
        key = (kind, str(((event.get("object") or {}).get("metadata") or {}).get("uid")))
        before = seen.pop(key, None)
        if event.get("type") != "DELETED":
            seen[key] = now
        return event.get("type") == "DELETED" or before != now

    @kopf.on.event(GROUP, VERSION, POLICY_PLURAL, id="policy-changed", registry=registry)
    async def policy_changed(event: kopf.RawEvent, **kwargs: Any) -> None:
        capture(kwargs)
        view = policy_view(event.get("object") or {})
        if moved("policy", event, (view.created, view.spec, view.problem, view.selection)):
            coordinator.tenancy_changed()
            reporter.changed()

    @kopf.on.event("", "v1", "namespaces", id="namespace-changed", registry=registry)
    async def namespace_changed(event: kopf.RawEvent, **kwargs: Any) -> None:
        capture(kwargs)
        meta = (event.get("object") or {}).get("metadata") or {}
        if moved("namespace", event, dict(meta.get("labels") or {})):
            coordinator.tenancy_changed({str(meta.get("name"))})
            reporter.changed()

    @kopf.on.cleanup(registry=registry)
    async def stop_reporting(**_: Any) -> None:
        await reporter.stop()
        await sweeper.stop()

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
    async def reconcile_credential(meta: kopf.Meta, retry: int, reason: str, **kwargs: Any) -> None:
        capture(kwargs)
        if reason == kopf.Reason.RESUME and retry == 0 and ports.settings.resume_spread:
            # At start-up or failover every credential resumes at once: spread their first passes out.
            await asyncio.sleep(random.uniform(0, ports.settings.resume_spread))  # noqa: S311
        await run(dict(meta), retry)

    @kopf.on.event(*RESOURCE, id="rotate-request", registry=registry)
    async def rotate_on_request(event: kopf.RawEvent, **kwargs: Any) -> None:
        """An unanswered acssmtp.io/rotate value wakes the scheduler (which backs off while passes fail).

        Raw events, not kopf's diff: kopf leaves annotations under its storage prefix (ours, acssmtp.io) out
        of the diff, so a change of acssmtp.io/rotate never reaches an update or field handler.
        """
        capture(kwargs)
        obj: dict[str, Any] = dict(event.get("object") or {})
        if moved("credential", event, (obj.get("status") or {}).get("policy")):
            reporter.changed()  # the count of a policy's credentials changed
        meta: dict[str, Any] = obj.get("metadata") or {}
        annotations, status = meta.get("annotations") or {}, obj.get("status") or {}
        requested = annotations.get(ROTATE)
        handled = status.get("rotateRequestHandled")
        refused = (status.get("revokeRequestRefused") or {}).get("request")
        revoking = revocation_asked(annotations.get(REVOKE), status.get("revokeRequestHandled"), refused)
        if event.get("type") in ("ADDED", "MODIFIED") and (revoking or (requested and requested != handled)):
            coordinator.ask(str(meta.get("uid")), urgent=revoking)

    @kopf.daemon(*RESOURCE, id="schedule", cancellation_timeout=2.0, registry=registry)
    async def scheduler(body: kopf.Body, stopped: kopf.DaemonStopped, **kwargs: Any) -> None:
        capture(kwargs)
        await coordinator.schedule(body, stopped.wait, lambda: bool(stopped))

    @kopf.index(*RESOURCE, id="alive", registry=registry)
    def alive(body: kopf.Body, **_: Any) -> dict[tuple[str, str, str], tuple[str, ...]]:
        """Every credential that exists (its namespace, name and uid prefix, as key markers name it), with the
        applications status records it acted on: the sweep's view (never the spec's, which names any application,
        permitted or not, before a key is added)."""
        meta, status = body["metadata"], body.get("status") or {}
        apps = [
            status.get("clientId"),
            *(r.get("clientId") for r in status.get("retired") or [] if isinstance(r, dict)),
        ]
        key = (str(meta["namespace"]), str(meta["name"]), str(meta["uid"])[:8])
        return {key: tuple(a for a in apps if isinstance(a, str) and is_guid(a))}  # what Graph can look up

    @kopf.index(*RESOURCE, id="assignments", registry=registry)
    def assignments(body: kopf.Body, **_: Any) -> dict[str, str] | None:
        found = (body.get("status") or {}).get("roleAssignmentId")
        return {canonical(str(found)): str(body["metadata"]["uid"])} if found else None

    @kopf.on.delete(*RESOURCE, id="finalize", registry=registry)
    async def delete_credential(body: kopf.Body, retry: int, **kwargs: Any) -> None:
        capture(kwargs)
        try:
            await coordinator.finalize(dict(body))
        except Failure as exc:
            raise kopf_error(exc, retry) from None

    @kopf.on.event("", "v1", "secrets", labels=MANAGED_BY, id="owned-secret", registry=registry)
    async def owned_secret_changed(event: kopf.RawEvent, **kwargs: Any) -> None:
        """A managed Secret deleted or edited out of band is healed now, not at the next drift check."""
        capture(kwargs)
        obj: dict[str, Any] = dict(event.get("object") or {})
        meta: dict[str, Any] = obj.get("metadata") or {}
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("kind") == KIND), None)
        if owner is None or event.get("type") not in ("DELETED", "MODIFIED"):
            return
        if event.get("type") == "MODIFIED" and coordinator.own_write(
            str(owner.get("uid")), meta.get("resourceVersion")
        ):
            return  # the write the last pass made itself
        # The credential's scheduler runs the pass: at most one a second, and none while passes fail (then at
        # the backoff's end), however many events a tenant's edits make.
        coordinator.heal(str(meta.get("namespace")), str(owner.get("uid")))

    return registry
