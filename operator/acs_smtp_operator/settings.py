"""The operator's settings, from the environment: cloud endpoints, trust, and the SMTP endpoint.

The same settings point the operator at a sovereign cloud, through a
TLS-inspecting proxy, or at the local sandbox; nothing else in the operator
knows which of these it talks to.
"""

from __future__ import annotations

import ssl
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from acs_smtp_operator.clouds import Cloud, endpoints

__all__ = ["LogFormat", "Settings"]


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACSSMTP_", extra="ignore", populate_by_name=True)

    tenant_id: str = Field(
        default="",
        validation_alias=AliasChoices("AZURE_TENANT_ID", "ACSSMTP_TENANT_ID"),
        description="the tenant of the operator and of the applications it manages",
    )
    cloud: Cloud = Field(default=Cloud.AZURE_PUBLIC, description="the preset the endpoints below default to")
    # Empty: the cloud preset's value. Set: this value, whatever the preset.
    arm_endpoint: str = ""
    graph_endpoint: str = ""
    authority_host: str = Field(
        default="", validation_alias=AliasChoices("AZURE_AUTHORITY_HOST", "ACSSMTP_AUTHORITY_HOST")
    )
    arm_audience: str = ""
    graph_audience: str = ""
    communication_audience: str = "https://communication.azure.com/.default"
    ca_bundle: Path | None = Field(default=None, description="PEM bundle trusted by every client the operator builds")
    smtp_host: str = "smtp.azurecomm.net"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    verify_timeout: float = Field(default=60.0, ge=0, description="how long a new secret may take to work (s)")
    drift_period: float = Field(default=3600.0, gt=0, description="seconds between drift checks (reads only)")
    rollout_timeout: float = Field(default=600.0, ge=0, description="how long to wait for restarted workloads (s)")
    max_restart_targets: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="workloads one credential's restartTargets may resolve to (names and selectors together); "
        "more, and none is restarted",
    )
    sweep_period: float = Field(
        default=3600.0,
        ge=0,
        description="how often the application keys of credentials that no longer exist are looked for (s); 0: never",
    )
    cluster_id: str | None = Field(
        default=None,
        max_length=253,
        description="this cluster's identity in the keys it adds (default: the kube-system namespace's uid)",
    )
    orphan_settle: float = Field(default=120.0, ge=0, description="age before an unreferenced key of ours goes (s)")
    graph_lag: float = Field(
        default=60.0,
        ge=0,
        description="how long Graph may not yet show a key just added (s): it is not taken for removed meanwhile, "
        "and its removal is retried while Graph answers 'not found'",
    )
    max_concurrent_passes: int = Field(
        default=8, ge=1, description="passes (and deletions) in flight at once, across every credential"
    )
    max_concurrent_requests: int = Field(
        default=16, ge=1, description="requests in flight at once per Azure API (ARM, Graph), across every pass"
    )
    shared_read_ttl: float | None = Field(
        default=None,
        ge=0,
        description="seconds a read many credentials share (the ACS resource, its domains, the role, the role "
        "assignments at the resource, an application's service principal) is reused, default the drift period; "
        "the operator's own writes update it at once, and a failed pass reads afresh what it used (0: only a "
        "read in flight is shared)",
    )

    @property
    def shared_ttl(self) -> float:
        return self.drift_period if self.shared_read_ttl is None else self.shared_read_ttl

    resume_spread: float = Field(
        default=10.0,
        ge=0,
        description="seconds over which the credentials found at start-up or failover are checked (random)",
    )
    min_manual_interval: float = Field(
        default=60.0,
        ge=0,
        description="the least time between a credential's rotations when one is asked for (s); a policy's "
        "minRotationInterval may ask for more",
    )
    bind_address: str = Field(
        default="0.0.0.0",  # noqa: S104 - Prometheus and the kubelet reach the pod's IP
        description="the address the metrics and probe endpoints listen on (127.0.0.1: this host only)",
    )
    crd_poll: float = Field(default=5.0, gt=0, description="seconds between looks for the CRDs while they are absent")
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="Prometheus metrics port (0: off)")
    health_port: int = Field(default=8080, ge=0, le=65535, description="/healthz and /readyz port (0: off)")
    log_format: LogFormat = LogFormat.TEXT
    # Leader election (a Lease): with several replicas exactly one reconciles.
    leader_election: bool = True
    lease_name: str = "acs-smtp-operator"
    lease_namespace: str = Field(default="", description="empty: the pod's namespace, else `default`")
    # Not $HOSTNAME: containers and shells export it too, and two processes with one name would both lead.
    identity: str = Field(
        default="", description="this replica's name in the Lease (the chart: the pod name); empty: host + random"
    )
    lease_duration: int = Field(default=15, ge=2, description="seconds a standby waits on a silent leader")
    lease_renew_deadline: int = Field(default=10, ge=2, description="seconds the leader may fail to renew")
    lease_retry_period: int = Field(default=2, ge=1, description="seconds between Lease attempts")

    @model_validator(mode="after")
    def _lag_within_settling(self) -> Self:
        if self.graph_lag > self.orphan_settle:
            raise ValueError(
                f"ACSSMTP_GRAPH_LAG ({self.graph_lag:g} s) must not exceed ACSSMTP_ORPHAN_SETTLE "
                f"({self.orphan_settle:g} s): a key a pass added and could not take back (Graph answered 'not "
                "found' throughout the lag) is an orphan once settled, and must be listed by then to be removed"
            )
        return self

    @model_validator(mode="after")
    def _fill_from_cloud(self) -> Self:
        preset = endpoints(self.cloud)
        for name in ("arm_endpoint", "graph_endpoint", "authority_host", "arm_audience", "graph_audience"):
            if not getattr(self, name):
                setattr(self, name, getattr(preset, name))
        if not self.lease_renew_deadline < self.lease_duration:
            raise ValueError("lease_renew_deadline must be shorter than lease_duration")
        if not self.lease_retry_period * 1.2 < self.lease_renew_deadline:
            raise ValueError("lease_retry_period * 1.2 must be shorter than lease_renew_deadline")
        return self

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS trust every client uses: the CA bundle when set, else the system's."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    @property
    def connection_verify(self) -> str | bool:
        """What azure-core transports take as `connection_verify`."""
        return str(self.ca_bundle) if self.ca_bundle else True
