"""Write the pip.conf an image build gets as a secret: this machine's index, extra indexes and trusted hosts (from
`pip config list`: the environment first, then the install section, then global), and its CA bundle (the file is
handed over as the secret `pip-cert`). Prints that bundle's path, or nothing; never a setting's value (an index URL
may hold a password). The caller keeps the file private and removes it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

KEPT = ("index-url", "extra-index-url", "trusted-host")
PRECEDENCE = (":env:", "install", "global")  # pip's own order for `pip install`


def settings(listed: str) -> dict[str, str]:
    """name -> value of the settings an install reads, each from the scope pip prefers."""
    found: dict[str, tuple[int, str]] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        if name not in (*KEPT, "cert") or scope not in PRECEDENCE:
            continue
        rank = PRECEDENCE.index(scope)
        if name not in found or rank < found[name][0]:
            found[name] = (rank, " ".join(str(ast.literal_eval(value)).split()))  # multi-line values on one line
    return {name: value for name, (_, value) in found.items()}


def main(target: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    found = settings(listed)
    lines = ["[global]", *(f"{name} = {found[name]}" for name in KEPT if name in found)]
    cert = found.get("cert", "")
    if cert:
        lines.append("cert = /run/secrets/pip-cert")
    target.write_text("\n".join(lines) + "\n")
    print(cert)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
