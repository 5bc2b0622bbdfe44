"""`acs-smtp-operator sandbox` as a user runs it: manifest, seed file, clean stop."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import start_sandbox, stop_sandbox


def listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def test_the_manifest_describes_the_cloud_and_sigterm_stops_every_server(tmp_path: Path) -> None:
    process, manifest = start_sandbox(tmp_path)
    try:
        assert Path(manifest["kubeconfig"]).is_file() and Path(manifest["caBundle"]).is_file()
        assert (tmp_path / "manifest.json").stat().st_mode & 0o077 == 0, "it holds a secret: owner-only"
        env = manifest["env"]
        assert set(env) == {
            "KUBECONFIG",
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_AUTHORITY_HOST",
            "ACSSMTP_ARM_ENDPOINT",
            "ACSSMTP_GRAPH_ENDPOINT",
            "ACSSMTP_CA_BUNDLE",
            "ACSSMTP_SMTP_HOST",
            "ACSSMTP_SMTP_PORT",
        }
        domains = [a["linkedDomains"] for a in manifest["communicationServices"]]
        assert any(domains) and not all(domains), "one ACS resource with a linked domain, one without"
        assert sum(1 for a in manifest["applications"] if a["servicePrincipalId"]) >= 2
        authority_port = int(env["AZURE_AUTHORITY_HOST"].rsplit(":", 1)[1])
        ports = [("127.0.0.1", manifest["smtp"]["port"]), ("127.0.0.1", authority_port)]
        assert all(listening(*p) for p in ports)
    finally:
        assert stop_sandbox(process) == 0
    assert not any(listening(*p) for p in ports)


def test_a_seed_file_shapes_the_tenant(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("""
communicationServices:
  - {name: only-acs, resourceGroup: rg-one, linkedDomains: [one.example.com, two.example.com]}
applications:
  - {name: solo-app}
""")
    run = tmp_path / "run"
    run.mkdir()
    process, manifest = start_sandbox(run, "--seed", str(seed))
    try:
        assert [a["name"] for a in manifest["communicationServices"]] == ["only-acs"]
        assert manifest["communicationServices"][0]["linkedDomains"] == ["one.example.com", "two.example.com"]
        assert [a["name"] for a in manifest["applications"]] == ["solo-app"]
    finally:
        assert stop_sandbox(process) == 0
