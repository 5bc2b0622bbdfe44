"""The Secret the operator writes works for the mail clients people use, injected as people inject it.

For each example program in examples/clients (Python smtplib, Node.js nodemailer, Java Jakarta Mail, Go net/smtp
with the LOGIN authenticator) and each way a pod gets the Secret in examples/consumers (environment variables,
a secret volume, a projected volume; resolved as the kubelet would, tests/kubelet.py), the program runs with
what the container would get and the sandbox's ACS-like SMTP server (STARTTLS required, AUTH LOGIN only)
must have accepted its mail, from the Secret's sender, logged in as the Secret's username.

The toolchains are set up once into tests/.bin/clients (npm ci, Maven's dependencies, go build) and reused
while their inputs are unchanged. A missing toolchain skips its tests, or fails them under
ACSSMTP_REQUIRE_CLIENTS=1 (CI).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from tests import kubelet
from tests.conftest import ROOT, Cloud
from tests.integration.operator_helpers import apply, eventually, login, namespace, secret_data, wait_ready

pytestmark = pytest.mark.usefixtures("operator")

CLIENTS = ROOT / "examples" / "clients"
CONSUMERS = ROOT / "examples" / "consumers"
INSTALLED = ROOT / "tests" / ".bin" / "clients"
SECRET = "shop-mailer-smtp"  # what the consumer manifests name (the credential shop-mailer's Secret)
RECIPIENT = "customer@example.org"
KUBERNETES = "1.37.0"

# How each example program identifies itself in the body of its mail.
BODIES = {
    "python": "Sent by the Python (smtplib) example",
    "node": "Sent by the Node.js (nodemailer) example",
    "java": "Sent by the Java (Jakarta Mail) example",
    "go": "Sent by the Go (net/smtp + LOGIN) example",
}

# Injection -> (manifest, Deployment); its container is named "app".
INJECTIONS = {
    "env": ("env.yaml", "shop-mailer"),
    "secret-volume": ("files.yaml", "shop-mailer-files"),
    "projected-volume": ("projected.yaml", "shop-mailer-projected"),
}


def unavailable(message: str) -> NoReturn:
    if os.environ.get("ACSSMTP_REQUIRE_CLIENTS") == "1":
        pytest.fail(f"{message} (ACSSMTP_REQUIRE_CLIENTS=1: the mail client tests must run)")
    pytest.skip(message)


def tool(name: str, how: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed: install {how} to run this test")
    return found


class Sensitive(dict[str, str]):
    """A Secret's data or an environment: its repr (pytest's tracebacks and assertion messages) hides passwords."""

    def __repr__(self) -> str:
        return repr({k: "<password>" if "password" in k.lower() else v for k, v in self.items()})


def checked_output(client: Client, result: subprocess.CompletedProcess[str], *passwords: str) -> str:
    """The client's output, for assertion messages: it must not hold a password (none is shown either way)."""
    text = result.stdout + result.stderr
    printed = any(password in text for password in passwords)
    assert not printed, f"{client.name} printed the password"
    for password in passwords:
        text = text.replace(password, "<password>")
    return text


def digest(*paths: Path) -> str:
    hashed = hashlib.sha256()
    for path in paths:
        hashed.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hashed.hexdigest()


def up_to_date(stamp: Path, inputs: str) -> bool:
    return stamp.exists() and stamp.read_text() == inputs


def prepare(command: Sequence[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({' '.join(command)}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def base_env() -> dict[str, str]:
    """What any process needs, and none of this shell's SMTP_* or trust settings."""
    keep = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "JAVA_HOME")
    return {k: os.environ[k] for k in keep if k in os.environ}


@dataclass(frozen=True)
class Client:
    name: str
    command: list[str]
    trust: dict[str, str]  # what makes it trust the sandbox's CA, as it would a private CA
    env: dict[str, str] = field(default_factory=dict)  # what its toolchain needs
    noise: tuple[str, ...] = ()  # stderr lines the runtime prints on its own

    def run(self, env: dict[str, str], subject: str, trusted: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, RECIPIENT, subject],
            env={**base_env(), **self.env, **(self.trust if trusted else {}), **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def error_lines(self, stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if line and not line.startswith(self.noise)]


@pytest.fixture(scope="session")
def ca_bundle(cloud: Cloud) -> str:
    return str(cloud.manifest["caBundle"])


@pytest.fixture(scope="session")
def python_client(ca_bundle: str) -> Client:
    return Client("python", [sys.executable, str(CLIENTS / "python" / "send.py")], {"SSL_CERT_FILE": ca_bundle})


@pytest.fixture(scope="session")
def node_client(ca_bundle: str) -> Client:
    node = tool("node", "Node.js 20 or later (with npm)")
    npm = tool("npm", "npm (it comes with Node.js)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        unavailable(f"Node.js {version} is too old: install Node.js 20 or later to run this test")
    source, target = CLIENTS / "node", INSTALLED / "node"
    inputs = digest(source / "package.json", source / "package-lock.json")
    if not up_to_date(target / ".installed", inputs) or not (target / "node_modules" / "nodemailer").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(source / name, target / name)
        prepare([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], target, "npm ci")
        (target / ".installed").write_text(inputs)
    env = {"NODE_PATH": str(target / "node_modules")}
    return Client("node", [node, str(source / "send.js")], {"NODE_EXTRA_CA_CERTS": ca_bundle}, env)


@pytest.fixture(scope="session")
def java_client(ca_bundle: str, tmp_path_factory: pytest.TempPathFactory) -> Client:
    java = tool("java", "a JDK 17 or later")
    keytool = tool("keytool", "a JDK 17 or later")
    mvn = tool("mvn", "Apache Maven")
    pom, lib = CLIENTS / "java" / "pom.xml", INSTALLED / "java-lib"
    inputs = digest(pom)
    if not up_to_date(INSTALLED / "java-lib.installed", inputs) or not any(lib.glob("angus-mail-*.jar")):
        shutil.rmtree(lib, ignore_errors=True)
        prepare(
            [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-DoutputDirectory={lib}"],
            ROOT,
            "mvn dependency:copy-dependencies",
        )
        (INSTALLED / "java-lib.installed").write_text(inputs)
    store = tmp_path_factory.mktemp("java-trust") / "sandbox-ca.p12"
    store_options = ["-keystore", str(store), "-storetype", "PKCS12", "-storepass", "changeit"]
    importing = [keytool, "-importcert", "-noprompt", "-alias", "sandbox-ca", "-file", ca_bundle, *store_options]
    prepare(importing, store.parent, "keytool -importcert")
    trust = f"-Djavax.net.ssl.trustStore={store} -Djavax.net.ssl.trustStoreType=PKCS12"
    trust += " -Djavax.net.ssl.trustStorePassword=changeit"
    command = [java, "-cp", f"{lib}{os.sep}*", str(CLIENTS / "java" / "src" / "main" / "java" / "Send.java")]
    return Client("java", command, {"JAVA_TOOL_OPTIONS": trust}, noise=("Picked up JAVA_TOOL_OPTIONS",))


@dataclass(frozen=True)
class GoClient(Client):
    test_binary: Path = Path()  # the package's tests, compiled (go test -c)


@pytest.fixture(scope="session")
def go_client(ca_bundle: str) -> GoClient:
    go = tool("go", "Go 1.22 or later")
    source = CLIENTS / "go"
    binary, tests = INSTALLED / "send-go", INSTALLED / "send-go.test"
    inputs = digest(*sorted(source.glob("*.go")), source / "go.mod")
    if not up_to_date(INSTALLED / "send-go.installed", inputs) or not (binary.exists() and tests.exists()):
        INSTALLED.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GOFLAGS": "-buildvcs=false", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0"}
        prepare([go, "build", "-o", str(binary), "."], source, "go build", env)
        prepare([go, "test", "-c", "-o", str(tests), "."], source, "go test -c", env)
        (INSTALLED / "send-go.installed").write_text(inputs)
    return GoClient("go", [str(binary)], {"SSL_CERT_FILE": ca_bundle}, test_binary=tests)


@pytest.fixture(params=list(BODIES))
def client(request: pytest.FixtureRequest) -> Client:
    found = request.getfixturevalue(f"{request.param}_client")
    assert isinstance(found, Client)
    return found


@dataclass(frozen=True)
class Credential:
    namespace: str
    data: Sensitive  # the Secret shop-mailer-smtp, as kubectl reads it (base64-decoded)


def provision(cloud: Cloud, **spec: Any) -> Credential:
    """A fresh namespace with the credential shop-mailer, Ready: the operator has written shop-mailer-smtp."""
    ns = namespace(cloud)
    apply(cloud, ns, "shop-mailer", **spec)
    wait_ready(cloud, ns, "shop-mailer")
    data = secret_data(cloud, ns, SECRET)
    assert data is not None, f"the operator wrote no Secret {ns}/{SECRET}"
    return Credential(ns, Sensitive(data))


def remove(cloud: Cloud, ns: str) -> None:
    """Delete the credentials and wait for their finalizers, while the operator runs and the policy still permits
    the cleanup: otherwise the role assignment stays in the session's tenant for the tests that come after."""
    cloud.kubectl("delete", "acssmtp", "--all", "-n", ns, "--timeout=60s", check=False)
    cloud.kubectl("delete", "acssmtppolicy", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def credential(cloud: Cloud) -> Iterator[Credential]:
    made = provision(cloud)
    yield made
    remove(cloud, made.namespace)


def container(injection: str, secret: dict[str, str], root: Path) -> tuple[dict[str, Any], kubelet.Started]:
    manifest, workload = INJECTIONS[injection]
    pod = kubelet.pod_spec(CONSUMERS / manifest, workload)
    return pod, kubelet.start(pod, "app", {SECRET: secret}, root)


def process_env(started: kubelet.Started) -> Sensitive:
    """The container's environment for a process here: SMTP_CONFIG_DIR names where its mount's files are."""
    env = Sensitive(started.env)
    if "SMTP_CONFIG_DIR" in env:
        env["SMTP_CONFIG_DIR"] = str(started.host_path(env["SMTP_CONFIG_DIR"]))
    return env


def delivered(cloud: Cloud, subject: str) -> list[dict[str, Any]]:
    return [m for m in cloud.control.get("/messages").json() if m["subject"] == subject]


def assert_sent(
    cloud: Cloud, client: Client, result: subprocess.CompletedProcess[str], subject: str, data: Sensitive
) -> None:
    output = checked_output(client, result, data["password"])
    assert result.returncode == 0, f"{client.name} exited {result.returncode}: {output}"
    [mail] = delivered(cloud, subject)
    assert mail["username"] == data["username"], "logged in with the Secret's username"
    assert mail["mailFrom"] == data["from"], "sent from the Secret's sender address"
    assert mail["rcptTos"] == [RECIPIENT]
    assert mail["body"].startswith(BODIES[client.name]), mail["body"]


@pytest.mark.parametrize("injection", list(INJECTIONS))
def test_the_example_client_sends_with_the_secret_as_the_pod_gets_it(
    cloud: Cloud, credential: Credential, client: Client, injection: str, tmp_path: Path
) -> None:
    _, started = container(injection, credential.data, tmp_path)
    env = process_env(started)
    if injection == "env":
        from_env = env.get("SMTP_PASSWORD") == credential.data["password"]
        assert from_env and "SMTP_CONFIG_DIR" not in env, "the password from SMTP_PASSWORD, no files"
    else:
        assert not any(value == credential.data["password"] for value in env.values()), "files only"
        resolved = (Path(env["SMTP_CONFIG_DIR"]) / "password").resolve()
        assert resolved.parent.name.startswith("..2") or resolved.parent.parent.name.startswith("..2"), (
            "read through the kubelet's ..data link into its timestamped directory"
        )
    subject = f"{client.name} {injection} {uuid.uuid4()}"
    assert_sent(cloud, client, client.run(env, subject), subject, credential.data)


def test_the_client_refuses_a_server_it_does_not_trust(
    cloud: Cloud, credential: Credential, client: Client, tmp_path: Path
) -> None:
    """STARTTLS with the certificate verified: without the sandbox's CA in its trust, no login and no mail."""
    _, started = container("env", credential.data, tmp_path)
    subject = f"{client.name} untrusted {uuid.uuid4()}"
    result = client.run(process_env(started), subject, trusted=False)
    output = checked_output(client, result, credential.data["password"])
    assert result.returncode != 0, output
    lines = client.error_lines(result.stderr)
    assert len(lines) == 1 and "certif" in lines[0].lower(), f"one line on stderr, naming the certificate: {output}"
    assert delivered(cloud, subject) == []


def test_go_needs_the_login_authenticator_net_smtp_has_none(
    cloud: Cloud, credential: Credential, go_client: GoClient, tmp_path: Path
) -> None:
    """The trap: net/smtp's PlainAuth and CRAMMD5Auth are refused by an ACS-like server; LoginAuth delivers."""
    _, started = container("env", credential.data, tmp_path)
    subject = f"go trap {uuid.uuid4()}"
    result = subprocess.run(
        [str(go_client.test_binary), "-test.v", "-test.count=1", "-live"],
        env={**base_env(), **go_client.trust, **process_env(started), "MAIL_TO": RECIPIENT, "MAIL_SUBJECT": subject},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = checked_output(go_client, result, credential.data["password"])
    assert result.returncode == 0, output
    assert "--- PASS: TestLiveOnlyLoginAuthLogsIn" in output, "the live test ran (it was not skipped)"
    for refused in (
        "smtp.PlainAuth refused by the server: AUTH: 504",
        "smtp.CRAMMD5Auth refused by the server: AUTH: 504",
    ):
        assert refused in output, output
    [mail] = delivered(cloud, subject)  # one: LoginAuth's; the standard library's never got as far as DATA
    assert mail["username"] == credential.data["username"]


@pytest.fixture(scope="module")
def rotated(cloud: Cloud) -> Iterator[tuple[Sensitive, Sensitive]]:
    """A credential rotated by the operator, once its previous password no longer logs in: (before, after)."""
    made = provision(cloud, rotation={"secretLifetime": "2h", "renewBefore": "1h", "gracePeriod": "2s"})
    before = made.data
    cloud.kubectl("annotate", "acssmtp", "shop-mailer", "-n", made.namespace, "acssmtp.io/rotate=clients")

    def new_secret() -> Sensitive | None:
        data = secret_data(cloud, made.namespace, SECRET)
        return Sensitive(data) if data and data["password"] != before["password"] else None

    after = eventually(new_secret, 30, "the operator to write the rotated password")
    eventually(lambda: login(cloud, before["username"], before["password"]) == 535, 30, "the old password's end")
    yield before, after
    remove(cloud, made.namespace)


def test_a_rotated_password_reaches_the_client_through_the_mounted_files(
    cloud: Cloud, rotated: tuple[Sensitive, Sensitive], client: Client, tmp_path: Path
) -> None:
    """Files the kubelet has not updated yet fail clearly; after its atomic swap the same directory works."""
    before, after = rotated
    pod, started = container("secret-volume", before, tmp_path)
    env = process_env(started)
    subject = f"{client.name} rotated {uuid.uuid4()}"
    stale = client.run(env, subject)
    output = checked_output(client, stale, before["password"], after["password"])
    assert stale.returncode != 0, output
    lines = client.error_lines(stale.stderr)
    assert len(lines) == 1 and "535" in lines[0], f"one line on stderr, with the server's refusal: {output}"
    assert delivered(cloud, subject) == []

    kubelet.update(started, pod, {SECRET: after})
    swapped = (Path(env["SMTP_CONFIG_DIR"]) / "password").read_text() == after["password"]
    assert swapped, "the same path reads the new password"
    assert_sent(cloud, client, client.run(env, subject), subject, after)


# Each framework's variables and the Secret's key (or the literal) each must carry.
FRAMEWORKS = {
    "shop-spring": {
        "SPRING_MAIL_HOST": "host",
        "SPRING_MAIL_PORT": "port",
        "SPRING_MAIL_USERNAME": "username",
        "SPRING_MAIL_PASSWORD": "password",
        "SPRING_MAIL_PROPERTIES_MAIL_SMTP_FROM": "from",
        "SPRING_MAIL_PROPERTIES_MAIL_SMTP_AUTH": "=true",
        "SPRING_MAIL_PROPERTIES_MAIL_SMTP_STARTTLS_ENABLE": "=true",
        "SPRING_MAIL_PROPERTIES_MAIL_SMTP_STARTTLS_REQUIRED": "=true",
    },
    "shop-django": {
        "EMAIL_HOST": "host",
        "EMAIL_PORT": "port",
        "EMAIL_HOST_USER": "username",
        "EMAIL_HOST_PASSWORD": "password",
        "EMAIL_USE_TLS": "=true",
        "DEFAULT_FROM_EMAIL": "from",
    },
    "shop-dotnet": {
        "Smtp__Host": "host",
        "Smtp__Port": "port",
        "Smtp__Username": "username",
        "Smtp__Password": "password",
        "Smtp__From": "from",
        "Smtp__EnableSsl": "=true",
    },
    "shop-envfrom": {f"SMTP_{key}": key for key in ("host", "port", "username", "password", "from", "starttls")},
}


@pytest.mark.parametrize("workload", list(FRAMEWORKS))
def test_the_framework_variables_carry_the_secrets_values(
    credential: Credential, workload: str, tmp_path: Path
) -> None:
    pod = kubelet.pod_spec(CONSUMERS / "frameworks.yaml", workload)
    env = kubelet.start(pod, "app", {SECRET: credential.data}, tmp_path).env
    expected = {
        name: source[1:] if source.startswith("=") else credential.data[source]
        for name, source in FRAMEWORKS[workload].items()
    }
    wrong = sorted(name for name in expected if env.get(name) != expected[name])
    assert wrong == [], f"{workload}: {wrong} do not carry what the framework expects"
    assert set(env) == set(expected), f"{workload}: unexpected variables {sorted(set(env) - set(expected))}"


def test_the_consumer_manifests_are_valid_and_every_reference_resolves(credential: Credential, tmp_path: Path) -> None:
    """Valid Kubernetes 1.37 (strict), and every container starts with the operator's Secret (no missing key)."""
    workloads = 0
    for manifest in sorted(CONSUMERS.glob("*.yaml")):
        for doc in yaml.safe_load_all(manifest.read_text()):
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
            assert (doc["apiVersion"], doc["kind"], doc["metadata"]["namespace"]) == ("apps/v1", "Deployment", "shop")
            pod = doc["spec"]["template"]["spec"]
            for spec in pod["containers"]:
                mounts = spec.get("volumeMounts") or []
                assert all(not m.get("subPath") and m.get("readOnly") for m in mounts), "read-only, no subPath"
                root = tmp_path / doc["metadata"]["name"]
                started = kubelet.start(pod, spec["name"], {SECRET: credential.data}, root)
                if "SMTP_CONFIG_DIR" in started.env:
                    assert (started.host_path(started.env["SMTP_CONFIG_DIR"]) / "password").exists()
            workloads += 1
    assert workloads == len(INJECTIONS) + len(FRAMEWORKS)
