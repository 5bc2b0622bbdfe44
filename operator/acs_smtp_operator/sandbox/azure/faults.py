"""Fault injection for the emulated Azure endpoints: latency, throttling and server errors."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Fault", "FaultBook", "FaultSpec"]


class FaultSpec(BaseModel):
    """What `POST {control}/faults` accepts."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str = Field(description="regular expression searched in the request path")
    method: str | None = Field(default=None, description="only this HTTP method (default: any)")
    status: int | None = Field(default=None, ge=400, le=599, description="answer with this status")
    retry_after: int | None = Field(default=None, alias="retryAfter", ge=0)
    latency_ms: int = Field(default=0, alias="latencyMs", ge=0, le=600_000)
    times: int | None = Field(default=None, ge=1, description="apply this many times (default: always)")
    drop: bool = Field(default=False, description="close the connection without an answer (a network failure)")


@dataclass
class Fault:
    spec: FaultSpec
    pattern: re.Pattern[str]
    remaining: int | None
    hits: int = 0


@dataclass
class FaultBook:
    faults: list[Fault] = field(default_factory=list)

    def add(self, spec: FaultSpec) -> None:
        self.faults.append(Fault(spec=spec, pattern=re.compile(spec.path, re.IGNORECASE), remaining=spec.times))

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str) -> list[FaultSpec]:
        """The faults that apply to this request (each consumes one of its `times`)."""
        taken: list[FaultSpec] = []
        for fault in self.faults:
            if fault.remaining == 0:
                continue
            if fault.spec.method and fault.spec.method.upper() != method.upper():
                continue
            if not fault.pattern.search(path):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            fault.hits += 1
            taken.append(fault.spec)
        return taken
