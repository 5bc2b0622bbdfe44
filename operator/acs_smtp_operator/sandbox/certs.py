"""A throwaway certificate authority for the sandbox's https and STARTTLS endpoints."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["SandboxTls", "make_tls"]


@dataclass(frozen=True)
class SandboxTls:
    ca_bundle: Path
    server_context: ssl.SSLContext


def make_tls(directory: Path) -> SandboxTls:
    """Create a CA, write its PEM to `directory`, and a server context for 127.0.0.1 and localhost."""
    ca = trustme.CA(organization_name="acs-smtp-operator sandbox")
    cert = ca.issue_cert("127.0.0.1", "localhost", "smtp.sandbox.local")
    bundle = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert.configure_cert(context)
    return SandboxTls(ca_bundle=bundle, server_context=context)
