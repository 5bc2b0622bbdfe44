"""The `acs-smtp-operator` command line."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["app"]

# Never the locals in a traceback: `check` holds a Secret's password in one.
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)


@app.callback()
def _main() -> None:
    """Azure Communication Services SMTP credentials as a Kubernetes custom resource."""


def _sandbox_installed() -> None:
    """The sandbox is left out of the image: say so, rather than fail on an import."""
    if importlib.util.find_spec("acs_smtp_operator.sandbox") is None:
        typer.echo(
            "the local sandbox is not part of this installation (the container image leaves it out): "
            "install acs-smtp-operator[sandbox] from the source tree to run it",
            err=True,
        )
        raise typer.Exit(2)


@app.command()
def version() -> None:
    """Print the operator's version (the same as the chart's appVersion and the image's label)."""
    from acs_smtp_operator import __version__

    typer.echo(__version__)


@app.command()
def sandbox(
    manifest: Annotated[Path, typer.Option(help="where to write the JSON manifest once every server listens")],
    seed: Annotated[Path | None, typer.Option(help="a YAML seed (tenant, ACS resources, applications)")] = None,
    workdir: Annotated[Path | None, typer.Option(help="where to keep the CA and kubeconfig")] = None,
) -> None:
    """Run the local cloud (Kubernetes, ARM, Graph, Entra, ACS SMTP) until SIGINT or SIGTERM."""
    _sandbox_installed()
    from acs_smtp_operator.sandbox import load_seed, run_sandbox

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        directory = workdir or Path(tempfile.mkdtemp(prefix="acs-smtp-sandbox-"))
        async with run_sandbox(directory, load_seed(seed), manifest) as running:
            typer.echo(f"sandbox ready: manifest {manifest.resolve()}, control {running.manifest['control']}")
            await stop.wait()
        typer.echo("sandbox stopped")

    asyncio.run(serve())


@app.command()
def run(
    namespace: Annotated[
        list[str] | None, typer.Option("--namespace", "-n", help="watch this namespace (repeat)")
    ] = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="watch every namespace")] = False,
) -> None:
    """Run the operator: reconcile AcsSmtpCredentials in the given namespaces (or all of them).

    Settings come from the environment (ACSSMTP_*, AZURE_*); see docs/install.md.
    """
    from pydantic import ValidationError

    from acs_smtp_operator.runtime import run_operator
    from acs_smtp_operator.settings import Settings

    if not namespace and not all_namespaces:
        raise typer.BadParameter("name at least one --namespace, or --all-namespaces")
    if namespace and all_namespaces:
        raise typer.BadParameter("--namespace and --all-namespaces exclude each other")
    try:
        settings = Settings()
    except ValidationError as exc:
        raise typer.BadParameter(f"invalid settings in the environment: {exc}") from None
    run_operator(settings, namespace or [], all_namespaces)


@app.command()
def demo(
    crds: Annotated[Path, typer.Option(help="the CRD folder to apply")] = Path("crds"),
    example: Annotated[Path, typer.Option(help="the AcsSmtpCredential to apply")] = Path("examples/shop-mailer.yaml"),
    policy: Annotated[Path, typer.Option(help="the AcsSmtpPolicy applied first, as a cluster administrator")] = Path(
        "examples/shop-policy.yaml"
    ),
    timeout: Annotated[float, typer.Option(help="seconds to wait for Ready")] = 60.0,
) -> None:
    """Show the operator's whole job on the local sandbox: policy and CR in, working SMTP Secret out, a mail
    delivered."""
    _sandbox_installed()
    from acs_smtp_operator.sandbox.demo import DemoFailed, run_demo

    try:
        asyncio.run(run_demo(crds, example, typer.echo, timeout, policy))
    except DemoFailed as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("demo succeeded")


@app.command()
def rotate(target: Annotated[str, typer.Argument(help="NAMESPACE/NAME of the AcsSmtpCredential")]) -> None:
    """Ask for a rotation now (sets the acssmtp.io/rotate annotation, like `cmctl renew`)."""
    from datetime import UTC, datetime

    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from acs_smtp_operator.vocabulary import GROUP, PLURAL, ROTATE, VERSION

    namespace, name = _target(target)
    api = client.CustomObjectsApi(_kubernetes())
    value = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"annotations": {ROTATE: value}}}
        )
    except ApiException as exc:
        typer.echo(f"cannot request a rotation of {target}: {exc.status} {exc.reason}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"rotation of {target} requested ({ROTATE}={value})")


def _kubernetes() -> Any:
    """The API client of your kubeconfig (or the pod's account); a clear line when there is none."""
    from kubernetes.config import ConfigException

    from acs_smtp_operator.kube.api import new_api_client

    try:
        return new_api_client()
    except (ConfigException, OSError) as exc:
        typer.echo(f"no Kubernetes configuration: {exc}", err=True)
        raise typer.Exit(1) from None


def _target(target: str) -> tuple[str, str]:
    namespace, _, name = target.partition("/")
    if not namespace or not name or "/" in name:
        raise typer.BadParameter("use NAMESPACE/NAME")
    return namespace, name


@app.command()
def status(
    target: Annotated[str, typer.Argument(help="NAMESPACE/NAME of the AcsSmtpCredential")],
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    events: Annotated[int, typer.Option(help="how many of the last Events to show")] = 5,
) -> None:
    """Is this credential healthy, and why not: readiness, policy, keys, rotation, rollout, last Events.

    Reads the credential, its policy, the Secret's metadata (never its data), the restart targets and the
    Events with your kubeconfig; what your RBAC does not let you read is said, not fatal.
    """
    import json
    from datetime import UTC, datetime

    from acs_smtp_operator.describe import Found, lines, secret_name, summarize
    from acs_smtp_operator.kube import inspect
    from acs_smtp_operator.status import Status

    if output not in ("text", "json"):
        raise typer.BadParameter("--output is text or json")
    namespace, name = _target(target)
    api = _kubernetes()
    read = inspect.credential(api, namespace, name)
    if read.state != "found":
        typer.echo(f"AcsSmtpCredential {target}: {'not found' if read.state == 'absent' else read.why}", err=True)
        raise typer.Exit(1)
    body, recorded = read.body, Status.read(read.body.get("status"))
    policy = inspect.policy(api, recorded.policy) if recorded.policy else Found(state="absent")
    secret = inspect.secret_metadata(api, namespace, secret_name(body))
    workloads = [
        inspect.workload(api, str(t.get("kind", "Deployment")), namespace, str(t.get("name")))
        for t in (body.get("spec") or {}).get("restartTargets") or []
    ]
    found_events, unreadable = inspect.events(api, namespace, name, (body.get("metadata") or {}).get("uid"))
    now = datetime.now(UTC)
    summary = summarize(body, policy, secret, workloads, found_events, now, max(events, 0), unreadable)
    if output == "json":
        typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        typer.echo("\n".join(lines(summary, now)))


@app.command()
def check(
    target: Annotated[str, typer.Argument(help="NAMESPACE/NAME of the AcsSmtpCredential")],
    ca_file: Annotated[
        Path | None, typer.Option(help="PEM bundle to trust instead of the system's", exists=True, dir_okay=False)
    ] = None,
    sender: Annotated[
        str | None, typer.Option("--from", help="the sender for MAIL FROM (default: the Secret's from)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds for each step")] = 20.0,
) -> None:
    """Prove the credential's Secret works, from outside, as a pod's mail client would use it.

    STARTTLS, AUTH LOGIN, MAIL FROM accepted, RSET, QUIT: no mail is sent. One line says PASS or the step that
    failed with the server's answer. Exit code: 0 passed, 1 the Secret could not be read, 3 connect, 4
    STARTTLS, 5 AUTH LOGIN, 6 MAIL FROM, 7 RSET or QUIT. Only a Secret this credential owns is used, and the
    password is sent only inside TLS.
    """
    import ssl

    from acs_smtp_operator.describe import printable, secret_name
    from acs_smtp_operator.kube import inspect
    from acs_smtp_operator.smtp_check import Check, run_check
    from acs_smtp_operator.vocabulary import KIND

    namespace, name = _target(target)
    api = _kubernetes()
    read = inspect.credential(api, namespace, name)
    if read.state != "found":
        typer.echo(f"FAIL reading AcsSmtpCredential {target}: {'not found' if read.state == 'absent' else read.why}")
        raise typer.Exit(1)
    name_of_secret = secret_name(read.body)
    where = printable(f"Secret {namespace}/{name_of_secret}")
    found, data = inspect.secret_data(api, namespace, name_of_secret)
    if found.state != "found":
        typer.echo(f"FAIL reading {where}: {'not found' if found.state == 'absent' else found.why}")
        raise typer.Exit(1)
    missing = [key for key in ("username", "password", "host", "port") if not data.get(key)]
    port = data.get("port", "")
    if missing or not (port.isdigit() and 0 < int(port) < 65536):
        typer.echo(f"FAIL reading {where}: {', '.join(missing) or 'port'} missing or not usable")
        raise typer.Exit(1)
    uid = (read.body.get("metadata") or {}).get("uid")
    owners = (found.body.get("metadata") or {}).get("ownerReferences") or []
    if not any(o.get("kind") == KIND and o.get("uid") == uid for o in owners):
        typer.echo(f"FAIL reading {where}: it is not owned by AcsSmtpCredential {target}; not logging in with it")
        raise typer.Exit(1)
    probe = Check(
        host=data["host"],
        port=int(data["port"]),
        username=data["username"],
        password=data["password"],
        sender=sender or data.get("from") or None,
        starttls=data.get("starttls", "true").strip().lower() == "true",
    )
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise typer.BadParameter(f"--ca-file {ca_file}: not a readable PEM bundle ({type(exc).__name__})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    verdict = run_check(probe, context, timeout)
    server, user = printable(f"{probe.host}:{probe.port}"), printable(probe.username)
    if verdict.ok:
        steps = ", ".join(
            f"STARTTLS ({verdict.tls})" if s == "STARTTLS" else f"MAIL FROM:<{probe.sender}>" if s == "MAIL FROM" else s
            for s in verdict.passed
        )
        typer.echo(f"PASS {where} as {user} at {server}: {steps}; no mail sent")
        return
    typer.echo(f"FAIL at {verdict.failed}: {verdict.why} ({where}, {server}, user {user})")
    raise typer.Exit(verdict.exit_code)
