"""Settings: one setting picks a cloud, each endpoint stays overridable, bad combinations are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from acs_smtp_operator.settings import Settings

ENDPOINTS = ("authority_host", "arm_endpoint", "arm_audience", "graph_endpoint", "graph_audience")


@pytest.mark.parametrize(
    ("cloud", "expected"),
    [
        (
            "AzurePublic",
            (
                "https://login.microsoftonline.com",
                "https://management.azure.com",
                "https://management.azure.com/.default",
                "https://graph.microsoft.com/v1.0",
                "https://graph.microsoft.com/.default",
            ),
        ),
        (
            "AzureUSGovernment",
            (
                "https://login.microsoftonline.us",
                "https://management.usgovcloudapi.net",
                "https://management.core.usgovcloudapi.net/.default",
                "https://graph.microsoft.us/v1.0",
                "https://graph.microsoft.us/.default",
            ),
        ),
        (
            "AzureChina",
            (
                "https://login.chinacloudapi.cn",
                "https://management.chinacloudapi.cn",
                "https://management.chinacloudapi.cn/.default",
                "https://microsoftgraph.chinacloudapi.cn/v1.0",
                "https://microsoftgraph.chinacloudapi.cn/.default",
            ),
        ),
    ],
)
def test_one_setting_selects_a_clouds_endpoints(
    monkeypatch: pytest.MonkeyPatch, cloud: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("ACSSMTP_CLOUD", cloud)
    settings = Settings()
    assert tuple(getattr(settings, name) for name in ENDPOINTS) == expected


def test_each_endpoint_overrides_its_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACSSMTP_CLOUD", "AzureChina")
    monkeypatch.setenv("ACSSMTP_ARM_ENDPOINT", "https://arm.proxy.example")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://login.proxy.example")
    settings = Settings()
    assert settings.arm_endpoint == "https://arm.proxy.example"
    assert settings.authority_host == "https://login.proxy.example"
    assert settings.graph_endpoint == "https://microsoftgraph.chinacloudapi.cn/v1.0"  # the rest: the preset's


def test_an_unknown_cloud_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACSSMTP_CLOUD", "AzureGermany")
    with pytest.raises(ValidationError, match="AzurePublic"):
        Settings()


def test_lease_timings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValidationError, match="shorter than lease_duration"):
        Settings(lease_duration=10, lease_renew_deadline=10)
    with pytest.raises(ValidationError, match="lease_retry_period"):
        Settings(lease_duration=10, lease_renew_deadline=3, lease_retry_period=3)


def test_the_lease_identity_is_never_taken_from_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shells and containers export HOSTNAME; two processes with one identity would both lead."""
    monkeypatch.setenv("HOSTNAME", "shared-host")
    monkeypatch.delenv("ACSSMTP_IDENTITY", raising=False)
    assert Settings().identity == ""
    monkeypatch.setenv("ACSSMTP_IDENTITY", "pod-a")
    assert Settings().identity == "pod-a"
