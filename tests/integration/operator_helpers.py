"""Helpers for tests that watch the real operator work through kubectl."""

from __future__ import annotations

import base64
import json
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, TypeVar

import yaml
from tests.conftest import Cloud

from acs_smtp_operator.sandbox.demo import open_policy

T = TypeVar("T")
WRITES = ("PUT", "POST", "PATCH", "DELETE")


def eventually(probe: Callable[[], T | None], timeout: float = 30, what: str = "the condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def namespace(cloud: Cloud, policy: bool = True) -> str:
    """A fresh namespace and, unless told otherwise, a policy permitting it every sandbox application."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    cloud.kubectl("apply", "-f", "-", stdin=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
    if policy:
        permit(cloud, name, names=[name])
    return name


def permit(cloud: Cloud, name: str, names: list[str] | None = None, **spec: Any) -> None:
    """Apply the AcsSmtpPolicy `name` (as the cluster's administrator): by default every sandbox application
    and resource, the default role and open bounds, for the namespaces `names`."""
    body = open_policy(cloud.manifest, name, {"names": names or []}, **spec)
    cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(body))


def apply(cloud: Cloud, ns: str, name: str, app: str = "shop-mailer", acs: str | None = None, **spec: Any) -> None:
    body = {
        "apiVersion": "acssmtp.io/v1alpha1",
        "kind": "AcsSmtpCredential",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "communicationService": {"resourceId": acs or cloud.acs["resourceId"]},
            "entraApplication": {
                "clientId": cloud.app(app)["clientId"]
                if app in {a["name"] for a in cloud.manifest["applications"]}
                else app
            },
            **spec,
        },
    }
    cloud.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(body))


def get(cloud: Cloud, ns: str, kind: str, name: str) -> dict[str, Any] | None:
    result = cloud.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def condition(cloud: Cloud, ns: str, name: str, type_: str = "Ready") -> dict[str, Any] | None:
    obj = get(cloud, ns, "acssmtp", name) or {}
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == type_), None)


def wait_ready(cloud: Cloud, ns: str, name: str, timeout: float = 30) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        found = condition(cloud, ns, name)
        return found if found and found["status"] == "True" else None

    return eventually(ready, timeout, f"{ns}/{name} to be Ready")


def wait_reason(
    cloud: Cloud, ns: str, name: str, reason: str, type_: str = "Ready", timeout: float = 30
) -> dict[str, Any]:
    def has() -> dict[str, Any] | None:
        found = condition(cloud, ns, name, type_)
        return found if found and found["reason"] == reason else None

    return eventually(has, timeout, f"{ns}/{name} {type_} reason {reason}")


def secret_data(cloud: Cloud, ns: str, name: str) -> dict[str, str] | None:
    secret = get(cloud, ns, "secret", name)
    if secret is None:
        return None
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def azure_writes(cloud: Cloud) -> list[dict[str, Any]]:
    return [r for r in cloud.requests() if r["api"] in ("arm", "graph") and r["method"] in WRITES]


def login(cloud: Cloud, username: str, password: str) -> int:
    """235 when the SMTP server accepts the credentials, else its reply code (535 for a refused secret)."""
    trust = ssl.create_default_context(cafile=cloud.manifest["caBundle"])
    with smtplib.SMTP(cloud.manifest["smtp"]["host"], cloud.manifest["smtp"]["port"], timeout=10) as smtp:
        smtp.starttls(context=trust)
        try:
            smtp.login(username, password)
        except smtplib.SMTPAuthenticationError as exc:
            return exc.smtp_code
    return 235


def send_with(cloud: Cloud, data: dict[str, str], subject: str) -> None:
    """Log in and send exactly as a pod that mounts the Secret would."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = data["from"], "customer@example.org", subject
    msg.set_content("hello from a pod")
    trust = ssl.create_default_context(cafile=cloud.manifest["caBundle"])
    with smtplib.SMTP(data["host"], int(data["port"]), timeout=10) as client:
        client.starttls(context=trust)
        client.login(data["username"], data["password"])
        client.send_message(msg)


def delivered(cloud: Cloud, subject: str) -> list[dict[str, Any]]:
    return [m for m in cloud.control.get("/messages").json() if m["subject"] == subject]
