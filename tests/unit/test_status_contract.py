"""The status contract: the typed model, the CRD's status schema and docs/operator.md list the same fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from acs_smtp_operator.status import Status

ROOT = Path(__file__).resolve().parents[2]


def _model_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        found.add(path)
        for inner in _nested_models(info.annotation):
            is_list = "tuple" in str(info.annotation) or "list" in str(info.annotation)
            found |= _model_fields(inner, path + ("[]." if is_list else "."))
    return found


def _nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _nested_models(arg)]


def _schema_fields(schema: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for name, sub in (schema.get("properties") or {}).items():
        path = prefix + name
        found.add(path)
        if sub.get("type") == "object":
            found |= _schema_fields(sub, path + ".")
        elif sub.get("type") == "array":
            found |= _schema_fields(sub.get("items") or {}, path + "[].")
    return found


def _status_schema() -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / "acssmtp.io_acssmtpcredentials.yaml").read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def _documented_fields() -> set[str]:
    text = (ROOT / "docs" / "operator.md").read_text()
    section = text.split("## Status\n", 1)[1].split("\n## ", 1)[0]
    table = section.split("| field | what |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", table, flags=re.MULTILINE))


def test_the_model_the_crd_schema_and_the_docs_name_the_same_status_fields() -> None:
    model = _model_fields(Status)
    assert model == _schema_fields(_status_schema())
    assert model == _documented_fields()


def test_the_crd_keeps_no_status_field_it_does_not_know() -> None:
    """No `x-kubernetes-preserve-unknown-fields`: whatever the model does not name is pruned."""
    assert "x-kubernetes-preserve-unknown-fields" not in yaml.safe_dump(_status_schema())


STORED = {
    "observedGeneration": 3,
    "conditions": [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "SMTP credentials for shop are in Secret shop-smtp",
            "lastTransitionTime": "2026-11-28T10:00:00Z",
            "observedGeneration": 3,
        }
    ],
    "username": "shop.app.tenant",
    "secretName": "shop-smtp",
    "currentKeyId": "k2",
    "notAfter": "2027-02-26T10:00:00Z",
    "renewalTime": "2027-01-27T10:00:00Z",
    "pendingRollout": {"keyId": "k1", "since": "2026-11-28T10:00:00Z"},
    "retiringKeys": [{"keyId": "k0", "removeAfter": "2026-11-29T10:00:00Z"}],
    "roleAssignmentOwned": True,
}


def test_a_stored_status_read_back_unchanged_needs_no_write() -> None:
    assert Status.read(STORED).to_patch(STORED) is None


def test_a_field_the_new_status_drops_is_deleted_by_the_patch() -> None:
    previous = {**STORED, "secretConflict": True}
    patch = Status.read(STORED).model_copy(update={"pending_rollout": None}).to_patch(previous)
    assert patch is not None
    assert patch["pendingRollout"] is None and patch["secretConflict"] is None
    assert patch["currentKeyId"] == "k2"


def test_times_are_written_in_whole_seconds_utc() -> None:
    moment = datetime(2026, 11, 28, 10, 0, 0, 654321, tzinfo=UTC)
    assert Status(notAfter=moment).to_json() == {"notAfter": "2026-11-28T10:00:00Z"}


def test_a_status_field_that_does_not_parse_is_dropped_not_fatal() -> None:
    status = Status.read({"notAfter": "not a time", "currentKeyId": "k1", "retiringKeys": "garbage"})
    assert status.not_after is None and status.current_key_id == "k1" and status.retiring_keys == ()


def test_the_fields_that_do_not_parse_are_named() -> None:
    status, unreadable = Status.parse({"currentKeyId": "k1", "pendingRollout": {"keyId": "k0", "since": "later"}})
    assert unreadable == ("pendingRollout",) and status.current_key_id == "k1" and status.pending_rollout is None
