"""`kubectl acssmtp`: the on-call engineer's commands, as a kubectl plugin (and as `acs-smtp-operator`'s own).

`status`, `check`, `rotate` and `list`, with kubectl's conventions (`-n/--namespace`, `-A/--all-namespaces`,
`--context`, `--kubeconfig`) and an exit code for each outcome (`EXIT_CODES`, docs/cli.md). This module imports
only typer at import time, each command only what it needs, and nothing of kopf or the Azure SDKs: the plugin is
the base distribution, installed without the `operator` extra.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["EXIT_CODES", "app", "main", "register"]

USAGE = "a usage error: an unknown option, a bad argument"
# Every command's exit codes: the --help of each and docs/cli.md show these (a test keeps all three equal).
EXIT_CODES: dict[str, dict[int, str]] = {
    "status": {
        0: "the credential is Ready",
        1: "the credential could not be read (not found, forbidden, no kubeconfig)",
        2: USAGE,
        3: "the credential is not Ready (or not reported on yet); the reason is printed",
    },
    "check": {
        0: "PASS: the Secret logs in and its sender is accepted",
        1: "the credential or its Secret could not be read, or the Secret is not the credential's",
        2: USAGE,
        3: "FAIL at CONNECT",
        4: "FAIL at STARTTLS",
        5: "FAIL at AUTH LOGIN",
        6: "FAIL at MAIL FROM",
        7: "FAIL at RSET or QUIT",
    },
    "rotate": {
        0: "answered: the new key is in the Secret (--revoke --wait: and the old keys are removed)",
        1: "the request could not be made (not found, forbidden, no kubeconfig) or the credential was deleted",
        2: USAGE,
        3: "deferred: the least time between rotations holds it back until the time printed "
        "(with --wait: only when that time is beyond --timeout)",
        4: "refused: the revocation was refused (the policy's revocation limit, or revocation disabled)",
        5: "no answer within --timeout (with --wait: not finished); what was last seen is printed",
    },
    "list": {
        0: "listed (whatever the credentials' readiness)",
        1: "the credentials could not be listed (forbidden, CRDs not installed, no kubeconfig)",
        2: USAGE,
    },
}

WAIT_TIMEOUT = 900.0  # --wait: a rollout may take ACSSMTP_ROLLOUT_TIMEOUT (600 s) before old keys go
ANSWER_TIMEOUT = 30.0  # without --wait: time for the operator to answer
POLL = 0.5  # seconds between reads of the credential while waiting

# Never the locals in a traceback: `check` holds a Secret's password in one.
app = typer.Typer(
    name="kubectl acssmtp",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="AcsSmtpCredentials for the engineer on call: status, check, rotate, list. Docs: docs/cli.md.",
)

Namespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="the namespace (default: the kubeconfig context's, else default)"),
]
Context = Annotated[str | None, typer.Option("--context", help="the kubeconfig context to use")]
Kubeconfig = Annotated[
    str | None, typer.Option("--kubeconfig", help="the kubeconfig (default: KUBECONFIG, then ~/.kube/config)")
]
Target = Annotated[str, typer.Argument(help="NAME (with -n NAMESPACE) or NAMESPACE/NAME of the AcsSmtpCredential")]


def epilog(command: str) -> str:
    """`Exit codes: 0 ...; 1 ...` for a command's --help."""
    return "Exit codes: " + "; ".join(f"{code} {what}" for code, what in EXIT_CODES[command].items()) + "."


def _split(target: str, namespace: str | None) -> tuple[str | None, str]:
    """(namespace or None for the context's, name) from `NAME` and `-n`, or from `NAMESPACE/NAME`."""
    given, slash, name = target.rpartition("/")
    if not slash:
        if not target:
            raise typer.BadParameter("name the credential: NAME (with -n NAMESPACE) or NAMESPACE/NAME")
        return namespace, target
    if not given or not name or "/" in given:
        raise typer.BadParameter(f"{target!r}: use NAME (with -n NAMESPACE) or NAMESPACE/NAME")
    if namespace and namespace != given:
        raise typer.BadParameter(f"{target} is in namespace {given}, but -n says {namespace}")
    return given, name


def _connect(kubeconfig: str | None, context: str | None) -> tuple[Any, str]:
    from acs_smtp_operator.kube.oncall import NoConfig, connect

    try:
        return connect(kubeconfig, context)
    except NoConfig as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _unreadable(namespace: str, name: str, state: str, why: str) -> str:
    return f"AcsSmtpCredential {namespace}/{name}: {'not found' if state == 'absent' else why}"


def status(
    target: Target,
    namespace: Namespace = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    events: Annotated[int, typer.Option(help="how many of the last Events to show")] = 5,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Is this credential healthy, and why not: readiness, policy, keys, rotation, rollout, last Events.

    Reads the credential, its policy, the Secret's metadata (never its data), the restart targets and the
    Events with your kubeconfig; what your RBAC does not let you read is said, not fatal.
    """
    import json
    from datetime import UTC, datetime

    from acs_smtp_operator.describe import Found, lines, printable, secret_name, summarize
    from acs_smtp_operator.kube import inspect
    from acs_smtp_operator.status import Status

    if output not in ("text", "json"):
        raise typer.BadParameter("--output is text or json")
    named, name = _split(target, namespace)
    api, default = _connect(kubeconfig, context)
    namespace = named or default
    read = inspect.credential(api, namespace, name)
    if read.state != "found":
        typer.echo(_unreadable(namespace, name, read.state, read.why), err=True)
        raise typer.Exit(1)
    body, recorded = read.body, Status.read(read.body.get("status"))
    policy = inspect.policy(api, recorded.policy) if recorded.policy else Found(state="absent")
    secret = inspect.secret_metadata(api, namespace, secret_name(body))
    workloads = inspect.targets(api, namespace, list((body.get("spec") or {}).get("restartTargets") or []))
    found_events, unreadable = inspect.events(api, namespace, name, (body.get("metadata") or {}).get("uid"))
    now = datetime.now(UTC)
    summary = summarize(body, policy, secret, workloads, found_events, now, max(events, 0), unreadable)
    if output == "json":
        typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))
    else:
        typer.echo("\n".join(lines(summary, now)))
    ready = summary.ready
    if ready is None or ready.status != "True":
        why = "the operator has not reported on it yet" if ready is None else f"Ready={ready.status} ({ready.reason})"
        said = f": {ready.message}" if ready is not None and ready.message else ""
        typer.echo(printable(f"AcsSmtpCredential {namespace}/{name} is not Ready: {why}{said}"), err=True)
        raise typer.Exit(3)


def check(
    target: Target,
    namespace: Namespace = None,
    ca_file: Annotated[
        Path | None, typer.Option(help="PEM bundle to trust instead of the system's", exists=True, dir_okay=False)
    ] = None,
    sender: Annotated[
        str | None, typer.Option("--from", help="the sender for MAIL FROM (default: the Secret's from)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds for each step")] = 20.0,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Prove the credential's Secret works, from outside, as a pod's mail client would use it.

    STARTTLS, AUTH LOGIN, MAIL FROM accepted, RSET, QUIT: no mail is sent. One line says PASS or the step that
    failed with the server's answer. Only a Secret this credential owns is used, and the password is sent only
    inside TLS.
    """
    import ssl

    from acs_smtp_operator.describe import printable, secret_name
    from acs_smtp_operator.kube import inspect
    from acs_smtp_operator.smtp_check import Check, run_check
    from acs_smtp_operator.vocabulary import KIND

    named, name = _split(target, namespace)
    api, default = _connect(kubeconfig, context)
    namespace = named or default
    read = inspect.credential(api, namespace, name)
    if read.state != "found":
        typer.echo(f"FAIL reading {_unreadable(namespace, name, read.state, read.why)}")
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
        typer.echo(
            f"FAIL reading {where}: it is not owned by AcsSmtpCredential {namespace}/{name}; not logging in with it"
        )
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
        context_ = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise typer.BadParameter(f"--ca-file {ca_file}: not a readable PEM bundle ({type(exc).__name__})") from None
    context_.minimum_version = ssl.TLSVersion.TLSv1_2
    verdict = run_check(probe, context_, timeout)
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


def rotate(
    target: Target,
    namespace: Namespace = None,
    revoke: Annotated[
        bool,
        typer.Option(
            "--revoke",
            help="an emergency revocation (acssmtp.io/revoke): a new key now, whatever the least time between "
            "rotations, and the old keys removed as soon as the rollout completes, with no grace period",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="wait out a deferral until the rotation happens; with --revoke, also until the old keys are gone",
        ),
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(
            help=f"seconds to wait for the answer (default {ANSWER_TIMEOUT:.0f}; with --wait {WAIT_TIMEOUT:.0f})",
            min=0,
        ),
    ] = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Ask the operator for a new key now, and say what it answered.

    Sets acssmtp.io/rotate (with --revoke: acssmtp.io/revoke) to a fresh value, like `cmctl renew`, then reads
    the credential until its status answers that value: the new key is in the Secret, or the rotation is
    deferred (until when, and why), or the revocation is refused (why).
    """
    from datetime import UTC, datetime

    from acs_smtp_operator.answer import RotateExit, answer, deferral, last_seen, request_value
    from acs_smtp_operator.kube import inspect
    from acs_smtp_operator.kube.oncall import annotate
    from acs_smtp_operator.vocabulary import REVOKE, ROTATE

    def finish(code: RotateExit, line: str) -> None:
        typer.echo(line, err=code != RotateExit.ANSWERED)
        raise typer.Exit(int(code))

    named, name = _split(target, namespace)
    api, default = _connect(kubeconfig, context)
    namespace = named or default
    where = f"{namespace}/{name}"
    what, key = ("revocation", REVOKE) if revoke else ("rotation", ROTATE)
    value = request_value(datetime.now(UTC))
    refused = annotate(api, namespace, name, key, value)
    if refused:
        finish(RotateExit.NOT_ASKED, f"cannot request a {what} of AcsSmtpCredential {where}: {refused}")
    allowed = timeout if timeout is not None else WAIT_TIMEOUT if wait else ANSWER_TIMEOUT
    typer.echo(f"{what} of {where} requested ({key}={value}); waiting up to {allowed:.0f}s for the operator's answer")
    deadline, said = time.monotonic() + allowed, ""
    body: dict[str, Any] = {}
    while True:
        read = inspect.credential(api, namespace, name)
        if read.state == "absent":
            finish(RotateExit.NOT_ASKED, f"AcsSmtpCredential {where} was deleted while waiting for the answer")
        body = read.body if read.state == "found" else body  # an unreadable moment: try again
        got = answer(body, key, value) if body else None
        now = datetime.now(UTC)
        if got is not None and got.state == "refused":
            finish(RotateExit.REFUSED, f"{what} of {where} refused: {got.message}")
        if got is not None and got.state == "handled":
            new = f"new key {got.key_id} is in the Secret"
            if not got.revoked_keys:
                gone = "; the old keys are removed" if revoke else ""
                finish(RotateExit.ANSWERED, f"{what} of {where} done: {new}{gone}")
            old = ", ".join(got.revoked_keys)
            if not wait:
                finish(
                    RotateExit.ANSWERED,
                    f"{what} of {where} done: {new}; old keys {old} are removed as soon as the rollout completes "
                    "(--wait waits for that)",
                )
            said = _once(said, f"{new}; waiting for the old keys {old} to be removed (after the rollout)")
        if got is not None and got.state == "deferred" and got.until is not None:
            why = deferral(body, got.until, now)
            if not wait:
                finish(
                    RotateExit.DEFERRED, f"{what} of {where} {why}. --wait waits for it; --revoke is for emergencies"
                )
            if (got.until - now).total_seconds() > deadline - time.monotonic():
                finish(RotateExit.DEFERRED, f"{what} of {where} {why}, later than --timeout {allowed:.0f}s allows")
            said = _once(said, f"{why}; waiting")
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL)
    seen = last_seen(body) if body else "the credential could not be read"
    pending = said or f"no answer to {key}={value} in status"
    finish(RotateExit.NO_ANSWER, f"{what} of {where}: {pending} within {allowed:.0f}s; last seen: {seen}")


def _once(before: str, now: str) -> str:
    """Print a waiting line when it changes; return it as the last one said."""
    if now != before:
        typer.echo(now)
    return now


def list_credentials(
    namespace: Namespace = None,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="every namespace")] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    context: Context = None,
    kubeconfig: Kubeconfig = None,
) -> None:
    """Every credential with its readiness, its key's expiry and its next rotation, as `kubectl get` lists.

    Columns: NAME READY REASON EXPIRES NEXT-ROTATION AGE, and NAMESPACE first with -A. EXPIRES and
    NEXT-ROTATION count down (`expired`, `due` once passed; `<none>` before the first key).
    """
    import json
    from datetime import UTC, datetime

    from acs_smtp_operator.kube.oncall import credentials
    from acs_smtp_operator.listing import as_json, row, table

    if output not in ("text", "json"):
        raise typer.BadParameter("--output is text or json")
    if namespace and all_namespaces:
        raise typer.BadParameter("--namespace and --all-namespaces exclude each other")
    api, default = _connect(kubeconfig, context)
    where = None if all_namespaces else namespace or default
    found, why = credentials(api, where)
    if why:
        typer.echo(f"error: cannot list AcsSmtpCredentials: {why}", err=True)
        raise typer.Exit(1)
    rows, now = [row(c) for c in found], datetime.now(UTC)
    if output == "json":
        typer.echo(json.dumps(as_json(rows, now), indent=2))
    elif not rows:
        typer.echo("No resources found" + (f" in {where} namespace." if where else "."), err=True)
    else:
        typer.echo("\n".join(table(rows, now, namespaces=where is None)))


def version() -> None:
    """Print the version (the operator's, the chart's appVersion, the image's label)."""
    from acs_smtp_operator import __version__

    typer.echo(__version__)


def register(on: typer.Typer) -> None:
    """Put the on-call commands on an app: the plugin's own, and `acs-smtp-operator`'s."""
    on.command(epilog=epilog("status"))(status)
    on.command(epilog=epilog("check"))(check)
    on.command(epilog=epilog("rotate"))(rotate)
    on.command("list", epilog=epilog("list"))(list_credentials)


register(app)
app.command()(version)


def main() -> None:
    """The `kubectl-acssmtp` console script (and `python -m acs_smtp_operator.plugin`, the krew launcher's)."""
    app(prog_name="kubectl acssmtp")


if __name__ == "__main__":
    main()
