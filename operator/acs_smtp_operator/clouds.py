"""Azure cloud presets: the endpoints and token audiences of each cloud, from the Azure SDKs' own tables.

One setting (`ACSSMTP_CLOUD`) picks a preset; every endpoint it fills stays
overridable on its own (a proxy, a private link, the local sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from azure.core import AzureClouds
from azure.identity import AzureAuthorityHosts
from azure.mgmt.core.tools import get_arm_endpoints
from msgraph_core import NationalClouds

__all__ = ["Cloud", "Endpoints", "endpoints"]


class Cloud(StrEnum):
    AZURE_PUBLIC = "AzurePublic"
    AZURE_US_GOVERNMENT = "AzureUSGovernment"
    AZURE_CHINA = "AzureChina"


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    authority_host: str
    arm_endpoint: str
    arm_audience: str
    graph_endpoint: str
    graph_audience: str


_SDK_NAMES: dict[Cloud, tuple[AzureClouds, str, NationalClouds]] = {
    Cloud.AZURE_PUBLIC: (AzureClouds.AZURE_PUBLIC_CLOUD, AzureAuthorityHosts.AZURE_PUBLIC_CLOUD, NationalClouds.Global),
    Cloud.AZURE_US_GOVERNMENT: (
        AzureClouds.AZURE_US_GOVERNMENT,
        AzureAuthorityHosts.AZURE_GOVERNMENT,
        NationalClouds.US_GOV,
    ),
    Cloud.AZURE_CHINA: (AzureClouds.AZURE_CHINA_CLOUD, AzureAuthorityHosts.AZURE_CHINA, NationalClouds.China),
}


def endpoints(cloud: Cloud) -> Endpoints:
    """The endpoint set of `cloud`, as azure-mgmt-core, azure-identity and msgraph-core publish them."""
    arm_cloud, authority, graph = _SDK_NAMES[cloud]
    arm = get_arm_endpoints(arm_cloud)
    return Endpoints(
        authority_host=f"https://{authority}",
        arm_endpoint=str(arm["resource_manager"]).rstrip("/"),
        arm_audience=str(arm["credential_scopes"][0]),
        graph_endpoint=f"{graph.value}/v1.0",
        graph_audience=f"{graph.value}/.default",
    )
