"""`acs-smtp-operator status NS/NAME`: what a person asks first about a credential, from what was read.

Pure: the command reads the objects (`kube/inspect.py`) and this module says what they mean, as readable lines
or as JSON. Nothing here holds a secret: the Secret is seen through its metadata only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from acs_smtp_operator.identity import secret_name as default_secret_name
from acs_smtp_operator.model import ConditionType
from acs_smtp_operator.status import Status
from acs_smtp_operator.timestamps import parse_stamp, stamp
from acs_smtp_operator.vocabulary import KEY_ID

__all__ = ["CONTROL", "Found", "Summary", "Workload", "lines", "printable", "secret_name", "summarize"]

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """One line a terminal shows as it is: control characters (escape sequences, line breaks) that a server, an
    Event or an edited object could carry become spaces. JSON output keeps the values as they are."""
    return CONTROL.sub(" ", text)


class _Shape(BaseModel):
    model_config = ConfigDict(frozen=True)


class Found(_Shape):
    """An object the command read, or why it could not: `absent`, or the API server's refusal."""

    state: Literal["found", "absent", "unreadable"]
    body: dict[str, Any] = {}
    why: str = ""


class Workload(_Shape):
    kind: str
    name: str  # empty for a selector that matched nothing, or could not be listed
    state: Literal["rolled-out", "rolling-out", "absent", "unreadable"]
    detail: str = ""
    selector: str = ""  # the restart target's label selector that matched it (empty: named)


class ConditionView(_Shape):
    type: str
    status: str
    reason: str
    message: str
    since: str | None


class KeyView(_Shape):
    """A key and its moment: the current key's expiry (notAfter), a retiring key's end (removeAfter), the time an
    old key began to wait for a rollout (since), or, without a key, the next rotation."""

    key_id: str | None
    at: str | None
    in_seconds: int | None


class EventView(_Shape):
    type: str
    reason: str
    message: str
    time: str | None
    count: int


class Summary(_Shape):
    namespace: str
    name: str
    ready: ConditionView | None
    conditions: tuple[ConditionView, ...]
    policy: str | None
    policy_state: str
    username: str | None
    secret: str | None
    secret_state: str
    secret_key_id: str | None
    current_key: KeyView | None
    next_rotation: KeyView | None
    last_rotation: str | None
    last_rotation_reason: str | None
    grace_period: tuple[KeyView, ...]
    pending_rollout: KeyView | None
    restart_targets: tuple[Workload, ...]
    events: tuple[EventView, ...]
    events_unreadable: str  # why the Events could not be read; empty when they were


def secret_name(credential: dict[str, Any]) -> str:
    """The Secret the credential writes: as its status records it, else as its spec names it, else the default."""
    recorded = Status.read(credential.get("status")).secret_name
    named = ((credential.get("spec") or {}).get("secret") or {}).get("name")
    return recorded or default_secret_name(str((credential.get("metadata") or {}).get("name")), named)


def _in(moment: datetime | None, now: datetime) -> int | None:
    return None if moment is None else int((moment - now).total_seconds())


def _key(key_id: str | None, moment: datetime | None, now: datetime) -> KeyView:
    return KeyView(key_id=key_id, at=stamp(moment) if moment else None, in_seconds=_in(moment, now))


def _event_time(event: dict[str, Any]) -> str | None:
    found = (
        event.get("lastTimestamp") or event.get("eventTime") or (event.get("metadata") or {}).get("creationTimestamp")
    )
    return str(found) if found else None


def _policy(status: Status, policy: Found) -> str:
    if status.policy is None:
        return "no policy permits it" if _not_permitted(status) else "not recorded yet"
    if policy.state == "absent":
        return "recorded, but the policy no longer exists"
    if policy.state == "unreadable":
        return f"recorded; the policy could not be read ({policy.why})"
    ready = next((c for c in (policy.body.get("status") or {}).get("conditions", []) if c.get("type") == "Ready"), None)
    if ready is None:
        return "permits it (the policy's own status is not reported yet)"
    if ready.get("status") == "True":
        return "permits it; the policy is in force"
    return f"the policy is not in force: {ready.get('reason', '')} {ready.get('message', '')}".rstrip()


def _not_permitted(status: Status) -> bool:
    ready = status.condition(ConditionType.READY)
    return ready is not None and ready.reason == "NotPermitted"


def summarize(
    credential: dict[str, Any],
    policy: Found,
    secret: Found,
    workloads: list[Workload],
    events: list[dict[str, Any]],
    now: datetime,
    last: int = 5,
    events_unreadable: str = "",
) -> Summary:
    meta = credential.get("metadata") or {}
    status = Status.read(credential.get("status"))
    conditions = tuple(
        ConditionView(
            type=c.type,
            status=c.status,
            reason=c.reason,
            message=c.message,
            since=stamp(c.last_transition_time) if c.last_transition_time else None,
        )
        for c in status.conditions
    )
    secret_state = {
        "found": "present",
        "absent": "not written yet" if status.current_key_id is None else "missing: the next pass writes it again",
        "unreadable": f"could not be read ({secret.why})",
    }[secret.state]
    annotations = (secret.body.get("metadata") or {}).get("annotations") or {}
    ordered = sorted(events, key=lambda e: _event_time(e) or "")
    return Summary(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        ready=next((c for c in conditions if c.type == ConditionType.READY), None),
        conditions=conditions,
        policy=status.policy,
        policy_state=_policy(status, policy),
        username=status.username,
        secret=secret_name(credential),
        secret_state=secret_state,
        secret_key_id=annotations.get(KEY_ID),
        current_key=_key(status.current_key_id, status.not_after, now) if status.current_key_id else None,
        next_rotation=_key(None, status.renewal_time, now) if status.renewal_time else None,
        last_rotation=stamp(status.last_rotation_time) if status.last_rotation_time else None,
        last_rotation_reason=status.last_rotation_reason,
        grace_period=tuple(_key(k.key_id, k.remove_after, now) for k in status.retiring_keys),
        pending_rollout=_key(status.pending_rollout.key_id, status.pending_rollout.since, now)
        if status.pending_rollout
        else None,
        restart_targets=tuple(workloads),
        events=tuple(
            EventView(
                type=str(e.get("type", "")),
                reason=str(e.get("reason", "")),
                message=str(e.get("message", "")),
                time=_event_time(e),
                count=int(e.get("count") or 1),
            )
            for e in (ordered[-last:] if last > 0 else [])
        ),
        events_unreadable=events_unreadable,
    )


def _human(seconds: int | None) -> str:
    """`in 89d 3h`, `2h 5m ago`."""
    if seconds is None:
        return ""
    left, parts = abs(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
        if len(parts) == 2:
            break
    text = " ".join(parts) or f"{left}s"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def _ago(when: str | None, now: datetime) -> str:
    moment = parse_stamp(when)
    return "?" if moment is None else _human(int((moment - now).total_seconds()))


_WIDTH = len("Awaiting rollout") + 2


def lines(summary: Summary, now: datetime) -> list[str]:
    """The summary as a few aligned lines."""
    rows: list[tuple[str, str]] = []
    ready = summary.ready
    if ready is None:
        rows.append(("Ready", "Unknown: the operator has not reported on it yet"))
    else:
        rows.append(("Ready", f"{ready.status} ({ready.reason}) {ready.message}".rstrip()))
    rows.extend(
        (c.type, f"{c.status} ({c.reason}) {c.message}".rstrip())
        for c in summary.conditions
        if c.type != ConditionType.READY and (c.status != "True" or c.type == ConditionType.SYNCED)
    )
    rows.append(("Policy", f"{summary.policy or '-'}: {summary.policy_state}"))
    rows.append(("Username", summary.username or "-"))
    held = f", holds key {summary.secret_key_id}" if summary.secret_key_id else ""
    rows.append(("Secret", f"{summary.namespace}/{summary.secret} ({summary.secret_state}{held})"))
    if summary.current_key is not None:
        key = summary.current_key
        rows.append(("Current key", f"{key.key_id}, expires {key.at} ({_human(key.in_seconds)})"))
    if summary.next_rotation is not None:
        rotation = summary.next_rotation
        when = _human(rotation.in_seconds) if (rotation.in_seconds or 0) >= 0 else "due now"
        rows.append(("Next rotation", f"{rotation.at} ({when})"))
    if summary.last_rotation:
        rows.append(("Last rotation", f"{summary.last_rotation} ({summary.last_rotation_reason or '?'})"))
    for key in summary.grace_period:
        rows.append(("Grace period", f"key {key.key_id} stays valid until {key.at} ({_human(key.in_seconds)})"))
    if summary.pending_rollout is not None:
        rows.append(
            ("Awaiting rollout", f"old key {summary.pending_rollout.key_id} since {summary.pending_rollout.at}")
        )
    for target in summary.restart_targets:
        detail = f": {target.detail}" if target.detail else ""
        which = f"{target.kind} {target.name}" if target.name else f"{target.kind}s matching {target.selector}"
        selected = f" (selected by {target.selector})" if target.name and target.selector else ""
        rows.append(("Restart target", f"{which}{selected} {target.state}{detail}"))
    if not summary.restart_targets:
        rows.append(("Restart targets", "none (pods reading the mounted files pick up a new password themselves)"))
    width = max(len(label) for label, _ in rows) + 2
    width = max(width, _WIDTH)  # the same column whatever is shown, for eyes and for grep
    out = [f"AcsSmtpCredential {summary.namespace}/{summary.name}"]
    out.extend(printable(f"  {label + ':':<{width}}{value}") for label, value in rows)
    if summary.events_unreadable:
        out.append(printable(f"  Events: could not be read ({summary.events_unreadable})"))
    else:
        out.append(f"  Events (last {len(summary.events)}):" if summary.events else "  Events: none")
    for event in summary.events:
        times = f" (x{event.count})" if event.count > 1 else ""
        said = printable(f"{event.type:<7} {event.reason:<22} {event.message}")
        out.append(f"    {_ago(event.time, now):>10}  {said}{times}")
    return out
