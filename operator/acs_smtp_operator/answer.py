"""What the operator answered to a rotation or revocation request, read from the credential's status.

Pure: `kubectl acssmtp rotate` sets `acssmtp.io/rotate` (or `acssmtp.io/revoke`) to a fresh value, reads the
credential until this says the value was answered, and exits with the code that answer has (`EXIT`).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from acs_smtp_operator.describe import printable
from acs_smtp_operator.model import ConditionType
from acs_smtp_operator.status import Status
from acs_smtp_operator.timestamps import stamp
from acs_smtp_operator.vocabulary import REVOKE, ROTATE

__all__ = ["Answer", "RotateExit", "answer", "deferral", "last_seen", "request_value"]


class RotateExit(enum.IntEnum):
    """`rotate`'s exit codes (docs/cli.md has the table; 2 is a usage error, as for every command)."""

    ANSWERED = 0  # the new key is in the Secret (with --revoke --wait: and the old keys are gone)
    NOT_ASKED = 1  # the request could not be made: no such credential, no permission, no kubeconfig
    DEFERRED = 3  # the least time between rotations holds it back (until a time printed)
    REFUSED = 4  # the revocation was refused (the policy's revocation limit, or revocation disabled)
    NO_ANSWER = 5  # nothing (or not all) within --timeout: what was last seen is printed


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: Literal["pending", "handled", "deferred", "refused"]
    key_id: str | None = None  # handled: the key the Secret holds now
    until: datetime | None = None  # deferred: when the rotation may happen
    message: str = ""  # refused: the operator's reason
    revoked_keys: tuple[str, ...] = ()  # handled revocation: old keys not removed yet (after the rollout)


def request_value(now: datetime) -> str:
    """A fresh annotation value: the time to the microsecond, so that two requests never share one."""
    return f"{stamp(now).removesuffix('Z')}.{now.microsecond:06d}Z"


def answer(credential: dict[str, Any], annotation: str, value: str) -> Answer:
    """The operator's answer to `annotation=value`, as status records it (pending while it records none)."""
    status = Status.read(credential.get("status"))
    if annotation == ROTATE:
        if status.rotate_request_handled == value:
            return Answer(state="handled", key_id=status.issued_key_id or status.current_key_id)
        deferred = status.rotate_request_deferred
        if deferred is not None and deferred.request == value:
            return Answer(state="deferred", until=deferred.until)
    elif annotation == REVOKE:
        refused = status.revoke_request_refused
        if refused is not None and refused.request == value:
            return Answer(state="refused", message=refused.message)
        if status.revoke_request_handled == value:
            # The key issued for it (the ledger's current key lags when a later step of that pass failed).
            key = status.issued_key_id or status.current_key_id
            return Answer(state="handled", key_id=key, revoked_keys=status.revoked_keys)
    else:
        raise ValueError(f"{annotation} is not a request annotation")
    return Answer(state="pending")


def deferral(credential: dict[str, Any], until: datetime, now: datetime) -> str:
    """Why a rotation waits, and until when, in one line."""
    status = Status.read(credential.get("status"))
    left = max(int((until - now).total_seconds()), 0)
    policy = f"policy {status.policy}'s" if status.policy else "the policy's"
    since = f" since the last rotation at {stamp(status.last_rotation_time)}" if status.last_rotation_time else ""
    return printable(
        f"deferred until {stamp(until)} (in {_seconds(left)}): the least time between rotations "
        f"({policy} minRotationInterval, at least the operator's ACSSMTP_MIN_MANUAL_INTERVAL) has not passed{since}"
    )


def last_seen(credential: dict[str, Any]) -> str:
    """What the credential's status said last: Ready and, when it is not fine, Synced; for a timeout's message."""
    status = Status.read(credential.get("status"))
    parts = []
    for kind in (ConditionType.READY, ConditionType.SYNCED):
        found = status.condition(kind)
        if found is None:
            continue
        if kind == ConditionType.SYNCED and found.status == "True":
            continue
        parts.append(f"{kind}={found.status} ({found.reason}) {found.message}".rstrip())
    if not parts:
        return "no status: is the operator running, and does it watch this namespace?"
    return printable("; ".join(parts))


def _seconds(total: int) -> str:
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return " ".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n) or "0s"
