"""Write the pip.conf an image build gets as a secret: this machine's index, extra index and trusted hosts, and its
CA bundle (the file is handed over as the secret `pip-cert`). Prints that bundle's path, or nothing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

KEPT = ("index-url", "extra-index-url", "trusted-host")


def main(target: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    found: dict[str, str] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        if name in (*KEPT, "cert") and (scope == ":env:" or name not in found):  # the environment wins
            found[name] = str(ast.literal_eval(value))
    lines = ["[global]", *(f"{name} = {found[name]}" for name in KEPT if name in found)]
    cert = found.get("cert", "")
    if cert:
        lines.append("cert = /run/secrets/pip-cert")
    target.write_text("\n".join(lines) + "\n")
    print(cert)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
