"""Pure conditions: set one keeping its transition time, and the readiness chain that decides Ready.

Ready answers one question — does the Secret hold a working credential for a resource that can send? —
through a chain of named checks, first answer wins (cert-manager's style); Synced says whether the last
pass succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from acs_smtp_operator.failure import Failure, UntilSpecChanges
from acs_smtp_operator.model import ConditionType, Reason, Standing
from acs_smtp_operator.status import Condition

__all__ = ["READINESS", "PassResult", "Verdict", "judge", "set_condition"]


def set_condition(
    conditions: tuple[Condition, ...],
    type_: ConditionType,
    ok: bool | None,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> tuple[Condition, ...]:
    """The conditions with `type_` set; lastTransitionTime moves only when the status changes."""
    text = "Unknown" if ok is None else "True" if ok else "False"
    previous = next((c for c in conditions if c.type == type_), None)
    moved = previous is None or previous.status != text
    condition = Condition(
        type=str(type_),
        status=text,
        reason=str(reason),
        message=message,
        lastTransitionTime=now if moved or previous is None else previous.last_transition_time,
        observedGeneration=generation,
    )
    rank = {str(name): n for n, name in enumerate(ConditionType)}
    others = [c for c in conditions if c.type != type_]
    return tuple(sorted([*others, condition], key=lambda c: rank.get(c.type, len(rank))))


@dataclass(frozen=True, kw_only=True)
class PassResult:
    """What the readiness chain looks at: how the pass ended and what it leaves in the Secret."""

    failure: Failure | None  # None: the pass succeeded
    standing: Standing  # what the Secret holds, judged as after a failure
    not_after: str | None  # the Secret's client secret's end, as status writes it
    conflict: str | None  # the Secret of that name is not ours: why nothing was written
    domain_linked: bool | None  # a linked domain can send; None: not read (the pass failed first)
    acs_name: str
    secret_name: str | None


Answer = tuple[bool | None, str, str]  # (status, reason, message)
Check = Callable[[PassResult], Answer | None]


def _invalid(r: PassResult) -> Answer | None:
    if r.failure is not None and isinstance(r.failure.retry, UntilSpecChanges):
        return False, r.failure.reason, r.failure.message  # InvalidSpec, or NotPermitted by any policy
    return None


def _failed_before_first_secret(r: PassResult) -> Answer | None:
    if r.failure is not None and r.standing == Standing.NONE:
        return False, r.failure.reason, r.failure.message
    return None


def _expired(r: PassResult) -> Answer | None:
    if r.failure is not None and r.standing == Standing.EXPIRED:
        message = f"the client secret in the Secret expired at {r.not_after}: {r.failure.message}"
        return False, Reason.EXPIRED, message
    return None


def _expiring(r: PassResult) -> Answer | None:
    if r.failure is not None and r.standing == Standing.EXPIRING:
        message = (
            f"rotation is overdue and failing; the Secret's client secret expires at {r.not_after}, "
            f"act before then: {r.failure.message}"
        )
        return True, Reason.EXPIRING, message
    return None


def _failed_but_working(r: PassResult) -> Answer | None:
    # A failure that does not threaten the Secret leaves Ready as it was: marked by an empty reason.
    return (None, "", "") if r.failure is not None else None


def _conflict(r: PassResult) -> Answer | None:
    return (False, Reason.SECRET_CONFLICT, r.conflict) if r.conflict else None


def _no_domain(r: PassResult) -> Answer | None:
    if r.domain_linked is False:
        return (
            False,
            Reason.NO_LINKED_DOMAIN,
            "credentials are provisioned, but the ACS resource has no linked, verified domain to send from "
            "(see the DomainLinked condition)",
        )
    return None


def _ready(r: PassResult) -> Answer | None:
    return True, Reason.READY, f"SMTP credentials for {r.acs_name} are in Secret {r.secret_name}"


READINESS: tuple[Check, ...] = (
    _invalid,  # bad input (not retried until the spec changes): nothing was attempted
    _failed_before_first_secret,  # no Secret yet: the failure is why
    _expired,  # failing, and the Secret's client secret has expired
    _expiring,  # failing past renewalTime: still works, a human must act before it expires
    _failed_but_working,  # failing, the Secret still works: Ready stays as it was
    _conflict,  # a Secret of that name that is not ours: left untouched
    _no_domain,  # provisioned, but nothing to send from
    _ready,
)


@dataclass(frozen=True)
class Verdict:
    ready: Answer | None  # None: Ready stays as it was
    synced: Answer | None  # None: Synced stays as it was (bad input is not a sync)
    warning: tuple[str, str] | None  # (reason, message) of the Warning Event, if any


def judge(result: PassResult) -> Verdict:
    """Ready, Synced and the Warning Event of one pass."""
    ready = next(answer for check in READINESS if (answer := check(result)) is not None)
    failure = result.failure
    if failure is None:
        return Verdict(ready=ready, synced=(True, Reason.READY, "the last reconciliation succeeded"), warning=None)
    synced = None if isinstance(failure.retry, UntilSpecChanges) else (False, failure.reason, failure.message)
    if ready[1]:
        return Verdict(ready=ready, synced=synced, warning=(ready[1], ready[2]))
    return Verdict(ready=None, synced=synced, warning=(failure.reason, failure.message))
