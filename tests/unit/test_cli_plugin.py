"""The kubectl plugin's contract with its users: documented exit codes, kubectl's ways of naming a credential
and a kubeconfig, and no kopf or Azure SDK to import."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from acs_smtp_operator.answer import RotateExit
from acs_smtp_operator.cli import app as operator_app
from acs_smtp_operator.kube.oncall import NoConfig, connect
from acs_smtp_operator.plugin import EXIT_CODES, app
from acs_smtp_operator.smtp_check import EXIT_CODES as CHECK_STEPS

ROOT = Path(__file__).resolve().parents[2]


def _help(command: str, on: object = app) -> str:
    done = CliRunner().invoke(on, [command, "--help"], env={"COLUMNS": "400"})  # type: ignore[arg-type]
    assert done.exit_code == 0, done.output
    return " ".join(done.output.replace("│", " ").split())


@pytest.mark.parametrize("command", sorted(EXIT_CODES))
def test_each_commands_help_lists_its_exit_codes(command: str) -> None:
    for shown in (_help(command), _help(command, operator_app)):
        for code, meaning in EXIT_CODES[command].items():
            assert f"{code} {' '.join(meaning.split())}" in shown, f"{command} --help lacks exit code {code}"


def test_the_docs_table_is_the_exit_codes_the_commands_use() -> None:
    documented: dict[str, dict[int, str]] = {}
    for command, code, meaning in re.findall(
        r"^\| `(\w+)` \| (\d+) \| (.+?) \|$", (ROOT / "docs/cli.md").read_text(), re.M
    ):
        documented.setdefault(command, {})[int(code)] = meaning
    assert documented == EXIT_CODES
    assert {code for code in EXIT_CODES["rotate"]} == {int(c) for c in RotateExit} | {2}
    steps = {code: f"FAIL at {'RSET or QUIT' if code == 7 else step}" for step, code in CHECK_STEPS.items()}
    assert {c: m for c, m in EXIT_CODES["check"].items() if c >= 3} == steps


@pytest.mark.parametrize(
    "args",
    [
        ["status", "-n", "billing", "shop/shop-mailer"],
        ["rotate", "shop/"],
        ["check", "/shop-mailer"],
        ["status", "a/b/c"],
        ["list", "-n", "shop", "-A"],
        ["status", "x", "-o", "yaml"],
    ],
)
def test_a_credential_named_two_ways_at_once_or_badly_is_a_usage_error(args: list[str]) -> None:
    done = CliRunner().invoke(app, args, env={"KUBECONFIG": "/nonexistent"})
    assert done.exit_code == 2, done.output


def test_no_kubeconfig_is_exit_1_and_says_what_to_do(tmp_path: Path) -> None:
    env = {"KUBECONFIG": "", "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": ""}
    done = CliRunner().invoke(app, ["list"], env=env)
    assert done.exit_code == 1 and "give --kubeconfig, set KUBECONFIG" in done.output


def kubeconfig(path: Path, token: str = "t0ken-that-must-not-be-printed") -> Path:
    cluster = {"server": "https://127.0.0.1:1"}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [
            {"name": "shop", "context": {"cluster": "c", "user": "u", "namespace": "shop"}},
            {"name": "plain", "context": {"cluster": "c", "user": "u"}},
        ],
        "current-context": "shop",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_namespace_and_context_are_kubectls(tmp_path: Path) -> None:
    path = str(kubeconfig(tmp_path / "config"))
    assert connect(path)[1] == "shop", "the current context's namespace"
    assert connect(path, "plain")[1] == "default"
    with pytest.raises(NoConfig, match='context "nope" does not exist'):
        connect(path, "nope")


def test_a_broken_kubeconfig_is_never_quoted(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("users:\n- user: {token: s3cret-token\n  : [")
    with pytest.raises(NoConfig) as caught:
        connect(str(path))
    assert "s3cret" not in str(caught.value)


def test_the_commands_import_neither_kopf_nor_an_azure_sdk() -> None:
    probe = (
        "import sys, acs_smtp_operator.cli, acs_smtp_operator.plugin, acs_smtp_operator.answer, "
        "acs_smtp_operator.listing, acs_smtp_operator.kube.oncall, acs_smtp_operator.kube.inspect, "
        "acs_smtp_operator.describe, acs_smtp_operator.smtp_check\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kopf', 'azure', 'msgraph', 'msgraph_core', 'kiota_abstractions', 'prometheus_client', 'aiohttp')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True)
    assert done.stdout.strip() == "[]"
