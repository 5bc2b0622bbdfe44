"""Pure decisions: does the Secret hold a working credential, and if not, why.

A chain of small named checks in cert-manager's style: each looks at the
observed state (and the clock passed in) and returns a reason, or None. The
first reason wins; it lands in status, the Event and the metrics label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "CHECKS",
    "CredentialState",
    "Ledger",
    "Observed",
    "advance",
    "ledger_of",
    "needs_new_secret",
    "next_wake",
    "orphans",
    "parse_stamp",
    "secret_is_ours",
    "standing_after_failure",
]

KEY_ID = "acssmtp.io/key-id"
NOT_AFTER = "acssmtp.io/not-after"
CLIENT_ID = "acssmtp.io/client-id"
RESOURCE = "acssmtp.io/communication-service"
ROTATE = "acssmtp.io/rotate"


@dataclass(frozen=True)
class CredentialState:
    """What the Secret says about the credential it holds (never the password itself)."""

    key_id: str | None
    not_after: datetime | None
    client_id: str | None
    resource_id: str | None
    username: str | None
    has_password: bool


@dataclass(frozen=True)
class Observed:
    secret: CredentialState | None  # None: there is no Secret
    app_keys: dict[str, datetime | None]  # key id -> end, as Graph lists them
    want_client_id: str
    want_resource_id: str
    want_username: str
    renew_before: timedelta
    rotate_requested: str | None = None  # the CR's acssmtp.io/rotate annotation
    rotate_handled: str | None = None  # the value the last rotation answered


Check = Callable[[Observed, datetime], str | None]


def _missing(o: Observed, now: datetime) -> str | None:
    return "SecretMissing" if o.secret is None else None


def _incomplete(o: Observed, now: datetime) -> str | None:
    s = o.secret
    return "SecretIncomplete" if s is not None and not (s.has_password and s.key_id) else None


def _key_removed(o: Observed, now: datetime) -> str | None:
    s = o.secret
    return "KeyNotOnApplication" if s is not None and s.key_id not in o.app_keys else None


def _target_changed(o: Observed, now: datetime) -> str | None:
    s = o.secret
    if s is None:
        return None
    if (s.client_id or "").lower() != o.want_client_id.lower():
        return "ApplicationChanged"
    if (s.resource_id or "").lower() != o.want_resource_id.lower():
        return "CommunicationServiceChanged"
    return None


def _expired(o: Observed, now: datetime) -> str | None:
    s = o.secret
    end = o.app_keys.get(s.key_id) if s is not None and s.key_id else None
    return "Expired" if end is not None and end <= now else None


def _renewal_due(o: Observed, now: datetime) -> str | None:
    s = o.secret
    end = (o.app_keys.get(s.key_id) if s and s.key_id else None) or (s.not_after if s else None)
    return "RenewalDue" if end is not None and end - o.renew_before <= now else None


def _manual(o: Observed, now: datetime) -> str | None:
    requested = o.rotate_requested
    return "ManualRotation" if requested and requested != o.rotate_handled else None


CHECKS: tuple[Check, ...] = (
    _missing,  # no Secret at all (first provisioning, or deleted out of band)
    _incomplete,  # emptied or hand-edited: no password or no key id
    _key_removed,  # the key was removed from the application out of band
    _target_changed,  # spec now names another application or ACS resource
    _expired,  # past its end: it no longer works
    _renewal_due,  # notAfter - renewBefore has come
    _manual,  # acssmtp.io/rotate changed
)


def needs_new_secret(observed: Observed, now: datetime) -> str | None:
    """The first reason to issue a new client secret, or None when the Secret's credential stands."""
    for check in CHECKS:
        reason = check(observed, now)
        if reason is not None:
            return reason
    return None


def secret_is_ours(owner_references: list[dict[str, object]] | None, uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in owner_references or [])


@dataclass(frozen=True)
class Ledger:
    """What status records about the application's keys that this credential answers for."""

    current: str | None = None  # the key in the Secret, as last recorded
    pending: tuple[str, datetime] | None = None  # (old key, since) while restarted workloads roll out
    retiring: tuple[tuple[str, datetime], ...] = ()  # (old key, remove after) in their grace period

    def referenced(self) -> set[str]:
        keys = {k for k, _ in self.retiring}
        if self.current:
            keys.add(self.current)
        if self.pending:
            keys.add(self.pending[0])
        return keys


def standing_after_failure(has_key: bool, not_after: datetime | None, renewal: datetime | None, now: datetime) -> str:
    """What a failed pass leaves of the credential in the Secret.

    `none` (nothing issued yet), `expired`, `expiring` (rotation overdue: a human must act before
    `not_after`), or `working` (the failure does not threaten the Secret yet).
    """
    if not has_key or not_after is None:
        return "none"
    if not_after <= now:
        return "expired"
    if renewal is not None and renewal <= now:
        return "expiring"
    return "working"


def parse_stamp(text: object) -> datetime | None:
    """A time as status writes it (`2026-11-28T10:00:00Z`), or None."""
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None


def _at(text: str) -> datetime:
    parsed = parse_stamp(text)
    assert parsed is not None
    return parsed


def ledger_of(status: dict[str, Any]) -> Ledger:
    """The key ledger that status records."""
    pending = status.get("pendingRollout")
    return Ledger(
        current=status.get("currentKeyId"),
        pending=(pending["keyId"], _at(pending["since"])) if pending else None,
        retiring=tuple((r["keyId"], _at(r["removeAfter"])) for r in status.get("retiringKeys") or []),
    )


def advance(
    ledger: Ledger,
    secret_key: str,
    app_keys: dict[str, datetime | None],
    now: datetime,
    grace: timedelta,
    has_restart_targets: bool,
    rollout_done: bool,
    rollout_timeout: timedelta,
) -> tuple[Ledger, list[str]]:
    """Move keys along current -> (rollout) -> grace -> removed; return the new ledger and keys to remove now.

    A key the Secret no longer holds is never removed before the workloads restarted (or the rollout
    timed out) and its grace period passed; a key already gone from the application is forgotten.
    """
    retiring = [(k, t) for k, t in ledger.retiring if k in app_keys and k != secret_key]
    pending = ledger.pending if ledger.pending and ledger.pending[0] in app_keys else None
    if pending is not None and (rollout_done or now >= pending[1] + rollout_timeout):
        retiring.append((pending[0], now + grace))  # the workloads have moved: the grace period starts now
        pending = None
    replaced = ledger.current if ledger.current and ledger.current != secret_key else None
    known = {k for k, _ in retiring} | ({pending[0]} if pending else set())
    if replaced and replaced in app_keys and replaced not in known:
        if has_restart_targets:
            if pending is not None:  # a second rotation before the first rollout finished
                retiring.append((pending[0], now + grace))
            pending = (replaced, now)  # `rollout_done` speaks of the previous rollout, not of this one
        else:
            retiring.append((replaced, now + grace))
    due = [k for k, t in retiring if t <= now]
    kept = tuple((k, t) for k, t in retiring if t > now)
    return Ledger(current=secret_key, pending=pending, retiring=kept), due


def orphans(
    marked: dict[str, datetime | None], referenced: set[str], now: datetime, settle: timedelta
) -> tuple[list[str], datetime | None]:
    """Our keys nothing references (a crash between addPassword and the Secret write).

    Returns the ones past the settling window, and when the next one will be. A key whose start Graph
    does not report counts as settled: every pass of a credential holds its lock, so no key of ours is
    ever unreferenced for a reason other than an interrupted pass.
    """
    loose = {
        k: (start or datetime.min.replace(tzinfo=now.tzinfo)) for k, start in marked.items() if k not in referenced
    }
    due = [k for k, start in loose.items() if start + settle <= now]
    later = [start + settle for k, start in loose.items() if k not in due]
    return due, min(later) if later else None


def next_wake(
    renewal: datetime | None, ledger: Ledger, drift_due: datetime, settling: datetime | None, rollout_timeout: timedelta
) -> datetime:
    """When the credential next needs a full pass: no Azure call at all happens before then.

    A pending rollout is watched meanwhile with Kubernetes reads only; its timeout is a due time here.
    """
    moments = [drift_due]
    if renewal is not None:
        moments.append(renewal)
    moments += [t for _, t in ledger.retiring]
    if ledger.pending is not None:
        moments.append(ledger.pending[1] + rollout_timeout)
    if settling is not None:
        moments.append(settling)
    return min(moments)
