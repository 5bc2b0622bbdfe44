"""The leak audit, run after every other scenario of the session (this module sorts last).

No client secret the sandbox ever issued may appear anywhere but in the Secrets the operator writes (and the
token and SMTP exchanges that prove them): not in any operator's log, not in any Event, not in any
credential's or policy's status or annotations (kopf's progress annotations included), not in a workload's
pod template, not in any other Secret or ConfigMap, not in a metrics page, not in the output of any CLI command
the tests ran, not in the body of any ARM or Graph write, not in the sandbox's own log; plain, JSON-escaped,
percent-encoded or base64-encoded.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import CLI_OUTPUTS, Cloud, Operator

# Entra's shape: three characters, `8Q~`, then the rest. A value may also travel percent-encoded (`%7E`).
_MARK = re.compile(r"8Q(?:~|%7[Ee])")
# A signed JWT: a workload identity assertion (a service account token), or an access token the sandbox issued.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}")
# A run of base64 (either alphabet) long enough to hold a client secret (40 characters: 54 encoded).
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]{52,}={0,2}")
OURS = {"app.kubernetes.io/managed-by": "acs-smtp-operator"}


def _own(secret: dict[str, Any]) -> bool:
    """A credential's own Secret (labelled, controlled by an AcsSmtpCredential): where the password belongs."""
    meta = secret["metadata"]
    owners = [r for r in meta.get("ownerReferences", []) if r.get("controller")]
    return OURS.items() <= (meta.get("labels") or {}).items() and [r["kind"] for r in owners] == ["AcsSmtpCredential"]


def _decoded(secret: dict[str, Any]) -> str:
    """A Secret's metadata and its values, decoded: base64 is how the API shows them, not a hiding place."""
    values = [base64.b64decode(v).decode(errors="replace") for v in (secret.get("data") or {}).values()]
    return json.dumps(secret["metadata"]) + "\n" + "\n".join(values)


def _texts(cloud: Cloud) -> Iterator[tuple[str, str]]:
    """(where, text) for everything the audit reads."""
    for operator in Operator.instances:
        operator.scrape()  # those still running
        if operator.log.exists():
            yield f"the log of {operator.log}", operator.log.read_text(errors="replace")
        for n, page in enumerate(operator.metrics_pages):
            yield f"metrics page {n} of {operator.log.parent.name}", page
    for kinds in ("events", "acssmtpcredentials", "acssmtppolicies", "deployments,statefulsets,daemonsets,leases"):
        listed = cloud.kubectl("get", kinds, "--all-namespaces", "-o", "json", check=False)
        yield f"kubectl get {kinds}", listed.stdout
    secrets = cloud.kubectl("get", "secrets", "--all-namespaces", "-o", "json", check=False).stdout
    for secret in json.loads(secrets or '{"items": []}')["items"]:
        if not _own(secret):
            yield f"Secret {secret['metadata'].get('namespace')}/{secret['metadata']['name']}", _decoded(secret)
    yield "kubectl get configmaps", cloud.kubectl("get", "configmaps", "-A", "-o", "json", check=False).stdout
    for command, output in CLI_OUTPUTS:
        yield f"the output of acs-smtp-operator {command}", output
    for body in cloud.control.get("/audit").json()["bodies"]:
        yield f"the body of {body['method']} {body['path']}", body["body"]
    if cloud.directory is not None and (cloud.directory / "sandbox.log").exists():
        yield "the sandbox's log", (cloud.directory / "sandbox.log").read_text(errors="replace")


def _found(text: str, issued: set[str], lengths: set[int]) -> set[str]:
    """The issued values in `text`, matched where Entra's mark is (a scan, not one search per value), and in every
    long run of base64 in it, decoded at each of the four alignments a value can start at."""
    plain = re.sub(r"%7[Ee]", "~", text)
    hits = set()
    for mark in _MARK.finditer(plain):
        start = mark.start() - 3
        hits |= {plain[start : start + n] for n in lengths} & issued
    for run in _BASE64.finditer(text):
        encoded = run.group().replace("-", "+").replace("_", "/").rstrip("=")
        for offset in range(4):
            chunk = encoded[offset:]
            rest = len(chunk) % 4  # a final partial group is decoded too (re-padded), a lone character cannot be
            chunk = chunk[:-1] if rest == 1 else chunk + "=" * (-rest % 4)
            try:
                raw = base64.b64decode(chunk)
                raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw  # Helm's release Secrets
            except (binascii.Error, ValueError, OSError, EOFError):
                continue
            decoded = raw.decode("latin-1")
            if _MARK.search(decoded) or _BASE64.search(decoded):  # a value, or base64 again (each level shorter)
                hits |= _found(decoded, issued, lengths)
    return hits


def test_the_audit_finds_a_value_plain_json_escaped_percent_or_base64_encoded() -> None:
    value = "a_B8Q~" + "x" * 36
    basic = base64.b64encode(f"user@shop:{value}".encode()).decode()  # an Authorization: Basic header
    texts = [f"log: {value} end", f'{{"m": "{value}"}}', "smtp://u:" + value.replace("~", "%7E") + "@h"]
    texts += [f"Authorization: Basic {basic}", base64.urlsafe_b64encode(("xx" + value).encode()).decode()]
    texts += [base64.b64encode(texts[2].encode()).decode(), base64.b64encode(basic.encode()).decode()]
    texts += [base64.b64encode(gzip.compress(json.dumps({"manifest": value}).encode())).decode()]
    for text in texts:
        assert _found(text, {value}, {len(value)}) == {value}, text
    assert _found("only a hint: a_B8Q~ and an id", {value}, {len(value)}) == set()


def test_no_issued_client_secret_appears_in_any_log_event_object_metric_or_azure_write(cloud: Cloud) -> None:
    if not Operator.instances:
        pytest.skip("no operator ran in this session: there is nothing to audit (run it with the suite)")
    issued = set(cloud.control.get("/audit").json()["issued"])
    assert len(issued) > 10, "the session issued hardly any secret: the audit would prove nothing"
    shaped = {s for s in issued if s[3:6] == "8Q~"}
    lengths = {len(s) for s in shaped}
    leaks: list[str] = []
    read = 0
    for where, text in _texts(cloud):
        read += len(text)
        hits = _found(text, shaped, lengths) | {s for s in issued - shaped if s in text}
        leaks += [f"{where}: a secret starting {s[:3]}..." for s in hits]
    assert read > 0
    assert leaks == [], "\n".join(leaks)


def test_no_token_appears_in_any_log_event_object_metric_or_azure_write(cloud: Cloud) -> None:
    """Workload identity's assertions (service account tokens) and the access tokens are secrets too."""
    if not Operator.instances:
        pytest.skip("no operator ran in this session: there is nothing to audit (run it with the suite)")
    leaks = [f"{where}: {m.group()[:12]}..." for where, text in _texts(cloud) for m in _JWT.finditer(text)]
    assert leaks == [], "\n".join(leaks)


def test_the_token_audit_finds_a_token() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YTpiIn0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
    assert _JWT.search(f"log: assertion={token} end")
    assert not _JWT.search("a key id eyJhbGciOiJSUzI1NiJ9 alone")
