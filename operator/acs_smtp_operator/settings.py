"""The operator's settings, from the environment: cloud endpoints, trust, and the SMTP endpoint.

The same settings point the operator at a sovereign cloud, through a
TLS-inspecting proxy, or at the local sandbox; nothing else in the operator
knows which of these it talks to.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACSSMTP_", extra="ignore", populate_by_name=True)

    tenant_id: str = Field(
        default="",
        validation_alias=AliasChoices("AZURE_TENANT_ID", "ACSSMTP_TENANT_ID"),
        description="the tenant of the operator and of the applications it manages",
    )
    arm_endpoint: str = "https://management.azure.com"
    graph_endpoint: str = "https://graph.microsoft.com/v1.0"
    authority_host: str = Field(
        default="https://login.microsoftonline.com",
        validation_alias=AliasChoices("AZURE_AUTHORITY_HOST", "ACSSMTP_AUTHORITY_HOST"),
    )
    arm_audience: str = "https://management.azure.com/.default"
    graph_audience: str = "https://graph.microsoft.com/.default"
    communication_audience: str = "https://communication.azure.com/.default"
    ca_bundle: Path | None = Field(default=None, description="PEM bundle trusted by every client the operator builds")
    smtp_host: str = "smtp.azurecomm.net"
    smtp_port: int = Field(default=587, ge=1, le=65535)
    verify_timeout: float = Field(default=60.0, ge=0, description="how long a new secret may take to work (s)")
    drift_period: float = Field(default=3600.0, gt=0, description="seconds between drift checks (reads only)")
    rollout_timeout: float = Field(default=600.0, ge=0, description="how long to wait for restarted workloads (s)")
    orphan_settle: float = Field(default=120.0, ge=0, description="age before an unreferenced key of ours goes (s)")
    metrics_port: int = Field(default=9090, ge=0, le=65535, description="Prometheus metrics port (0: off)")

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS trust every client uses: the CA bundle when set, else the system's."""
        context = ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    @property
    def connection_verify(self) -> str | bool:
        """What azure-core transports take as `connection_verify`."""
        return str(self.ca_bundle) if self.ca_bundle else True
