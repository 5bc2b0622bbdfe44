"""The `acs-smtp-operator` command line."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from acs_smtp_operator.plugin import register

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
    if importlib.util.find_spec("kopf") is None:  # the base distribution is the CLI alone
        typer.echo(
            "the operator is not part of this installation (the base distribution is the command line only): "
            "pip install 'acs-smtp-operator[operator]' to run it",
            err=True,
        )
        raise typer.Exit(2)
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
    delivered, then a rotation with time compressed."""
    _sandbox_installed()
    from acs_smtp_operator.sandbox.demo import DemoFailed, run_demo

    try:
        asyncio.run(run_demo(crds, example, typer.echo, timeout, policy))
    except DemoFailed as exc:
        typer.echo(f"demo failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("demo succeeded")


# status, check, rotate and list: the same commands as `kubectl acssmtp` (plugin.py), with its options.
register(app)
