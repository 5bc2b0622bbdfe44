"""The custom resource as one pass sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Credential"]


@dataclass(frozen=True, kw_only=True)
class Credential:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    status: dict[str, Any]
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Credential:
        """From the object as the API server sends it."""
        meta = body.get("metadata") or {}
        return cls(
            namespace=str(meta.get("namespace")),
            name=str(meta.get("name")),
            uid=str(meta.get("uid")),
            generation=int(meta.get("generation") or 0),
            spec=dict(body.get("spec") or {}),
            status=dict(body.get("status") or {}),
            annotations=dict(meta.get("annotations") or {}),
        )
