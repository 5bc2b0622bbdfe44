"""Pure decisions: does the Secret hold a working credential, and if not, why.

A chain of small named checks in cert-manager's style: each looks at the
observed state (and the clock passed in) and returns a reason, or None. The
first reason wins; it lands in status, the Event and the metrics label.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["CHECKS", "CredentialState", "Observed", "needs_new_secret", "secret_is_ours"]

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
    extra: dict[str, str] = field(default_factory=dict)


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
