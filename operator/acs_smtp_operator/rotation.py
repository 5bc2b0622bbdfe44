"""Pure decisions: does the Secret hold a working credential, and if not, why; may a new key be issued now.

A chain of small named checks in cert-manager's style: each looks at the
observed state (and the clock passed in) and returns a reason, or None. The
first reason wins; it lands in status, the Event and the metrics label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from acs_smtp_operator.ids import same_id
from acs_smtp_operator.model import RotationReason
from acs_smtp_operator.observed import CredentialState
from acs_smtp_operator.status import Status
from acs_smtp_operator.tenancy import Grant
from acs_smtp_operator.timestamps import stamp
from acs_smtp_operator.vocabulary import ROTATE

__all__ = [
    "CHECKS",
    "REVOCATION_WINDOW",
    "SecretFacts",
    "deferred_rotation",
    "held_back",
    "issue_held",
    "last_issue",
    "needs_new_secret",
    "recent_revocations",
    "revocation_asked",
    "revocation_refusal",
]


@dataclass(frozen=True, kw_only=True)
class SecretFacts:
    """What the rotation checks look at: the Secret's credential, the application's keys, the spec's wishes."""

    secret: CredentialState | None  # None: there is no Secret
    app_keys: dict[str, datetime | None]  # key id -> end, as Graph lists them
    want_client_id: str
    want_resource_id: str
    renew_before: timedelta
    rotate_requested: str | None = None  # the CR's acssmtp.io/rotate annotation
    rotate_handled: str | None = None  # the value the last rotation answered
    rotate_held_until: datetime | None = None  # the policy's minRotationInterval holds the request back until then
    fresh_key: str | None = None  # issued moments ago: Graph may not list it yet (eventual consistency)


def held_back(
    requested: str | None, handled: str | None, last_rotation: datetime | None, interval: timedelta, now: datetime
) -> datetime | None:
    """When an unanswered rotation request may be served, while the policy's minRotationInterval (counted from
    the last rotation) holds it back now; None when nothing is asked or it may be served already."""
    if not requested or requested == handled or last_rotation is None:
        return None
    until = last_rotation + interval
    return until if now < until else None


REVOCATION_WINDOW = timedelta(days=1)


def revocation_asked(requested: str | None, handled: str | None, refused: str | None) -> bool:
    """Is an emergency revocation (acssmtp.io/revoke) asked and not yet answered (done or refused)?"""
    return bool(requested) and requested not in (handled, refused)


def recent_revocations(done: tuple[datetime, ...], now: datetime) -> tuple[datetime, ...]:
    """The revocations of the last 24 hours (status keeps no older ones)."""
    return tuple(t for t in done if now - REVOCATION_WINDOW < t <= now)


def revocation_refusal(done: tuple[datetime, ...], limit: int, policy: str, now: datetime) -> str | None:
    """Why a revocation asked now is refused (the policy's maxRevocationsPerDay), or None: it goes ahead."""
    if limit <= 0:
        return f"emergency revocation is turned off by policy {policy!r} (limits.maxRevocationsPerDay: 0)"
    recent = recent_revocations(done, now)
    if len(recent) < limit:
        return None
    return (
        f"{len(recent)} emergency revocations in the last 24 hours reach policy {policy!r}'s "
        f"limits.maxRevocationsPerDay ({limit}); the next may be asked from {stamp(min(recent) + REVOCATION_WINDOW)} "
        "(a rotation with acssmtp.io/rotate is still possible, with the grace period)"
    )


_UNBOUNDED = (RotationReason.APPLICATION_CHANGED, RotationReason.COMMUNICATION_SERVICE_CHANGED)


def last_issue(last_rotation: datetime | None, issued_at: datetime | None) -> datetime | None:
    """When this credential last added a client secret (verified or not) or last switched to one."""
    return max((t for t in (last_rotation, issued_at) if t is not None), default=None)


def issue_held(
    reason: RotationReason, last: datetime | None, interval: timedelta, now: datetime, retarget: bool = False
) -> datetime | None:
    """Until when a new client secret wanted for `reason` must wait; None when it may be issued now.

    Whatever triggered the pass (a spec edit, a Secret deleted or blanked, a key removed, an annotation, a
    restart), a credential adds at most one client secret per `interval` (the policy's minRotationInterval,
    at least ACSSMTP_MIN_MANUAL_INTERVAL), counted from `last` (status, so a restart keeps it). Only the first
    client secret and a retarget are not held: `retarget` says the spec names another application or resource
    than status records (which the policies permitted), not the Secret's annotations, which the tenant can edit.
    """
    if (reason in _UNBOUNDED and retarget) or last is None:
        return None
    until = last + interval
    return until if now < until else None


Check = Callable[[SecretFacts, datetime], RotationReason | None]


def _missing(o: SecretFacts, now: datetime) -> RotationReason | None:
    return RotationReason.SECRET_MISSING if o.secret is None else None


def _incomplete(o: SecretFacts, now: datetime) -> RotationReason | None:
    s = o.secret
    return RotationReason.SECRET_INCOMPLETE if s is not None and not (s.has_password and s.key_id) else None


def _key_removed(o: SecretFacts, now: datetime) -> RotationReason | None:
    s = o.secret
    if s is None or s.key_id in o.app_keys or (s.key_id and s.key_id == o.fresh_key):
        return None
    return RotationReason.KEY_NOT_ON_APPLICATION


def _target_changed(o: SecretFacts, now: datetime) -> RotationReason | None:
    s = o.secret
    if s is None:
        return None
    if (s.client_id or "").lower() != o.want_client_id.lower():
        return RotationReason.APPLICATION_CHANGED
    if not same_id(s.resource_id, o.want_resource_id):
        return RotationReason.COMMUNICATION_SERVICE_CHANGED
    return None


def _expired(o: SecretFacts, now: datetime) -> RotationReason | None:
    s = o.secret
    end = o.app_keys.get(s.key_id) if s is not None and s.key_id else None
    return RotationReason.EXPIRED if end is not None and end <= now else None


def _renewal_due(o: SecretFacts, now: datetime) -> RotationReason | None:
    s = o.secret
    end = (o.app_keys.get(s.key_id) if s and s.key_id else None) or (s.not_after if s else None)
    return RotationReason.RENEWAL_DUE if end is not None and end - o.renew_before <= now else None


def _manual(o: SecretFacts, now: datetime) -> RotationReason | None:
    requested = o.rotate_requested
    asked = requested and requested != o.rotate_handled and o.rotate_held_until is None
    return RotationReason.MANUAL_ROTATION if asked else None


CHECKS: tuple[Check, ...] = (
    _missing,  # no Secret at all (first provisioning, or deleted out of band)
    _incomplete,  # emptied or hand-edited: no password or no key id
    _target_changed,  # spec now names another application or ACS resource (whose keys are not the old ones)
    _key_removed,  # the key was removed from the application out of band
    _expired,  # past its end: it no longer works
    _renewal_due,  # notAfter - renewBefore has come
    _manual,  # acssmtp.io/rotate changed
)


def needs_new_secret(observed: SecretFacts, now: datetime) -> RotationReason | None:
    """The first reason to issue a new client secret, or None when the Secret's credential stands."""
    for check in CHECKS:
        reason = check(observed, now)
        if reason is not None:
            return reason
    return None


def deferred_rotation(
    permitted: Grant | str | None, status: Status, body: Mapping[str, Any], now: datetime, floor: float
) -> datetime | None:
    """When a rotation request the policy's minRotationInterval (at least `floor` seconds) holds back may be
    served; None when nothing is held (or the credential is not permitted: nothing is served then anyway)."""
    if not isinstance(permitted, Grant):
        return None
    interval = permitted.min_rotation_interval
    requested = ((body.get("metadata") or {}).get("annotations") or {}).get(ROTATE)
    least = max(interval, timedelta(seconds=floor))
    last = last_issue(status.last_rotation_time, status.issued_at)
    return held_back(requested, status.rotate_request_handled, last, least, now)
