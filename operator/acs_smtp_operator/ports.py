"""The ports one pass acts through: settings, the Azure and Kubernetes adapters, the metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from acs_smtp_operator.azure.clients import AzureClients
from acs_smtp_operator.azure.shared import Shared
from acs_smtp_operator.kube.api import Kube
from acs_smtp_operator.metrics import Metrics
from acs_smtp_operator.settings import Settings

__all__ = ["Emit", "Ports"]


@dataclass(kw_only=True)
class Ports:
    settings: Settings
    azure: AzureClients
    kube: Kube
    tenant_id: str
    metrics: Metrics = field(default_factory=Metrics)
    # Reads many credentials share (the default keeps only the one in flight: nothing is reused).
    shared: Shared = field(default_factory=lambda: Shared(ttl=0.0))
    cluster: str | None = None  # the kube-system namespace's uid: new client secrets carry it (`identity`)


Emit = Callable[[str, str, str], None]  # posts an Event about the credential: (type, reason, message)
