"""`kubectl acssmtp`'s krew archive, built reproducibly: the same bytes (and sha256) from the same launcher.

    .venv/bin/python scripts/krew.py [build/krew]   # writes kubectl-acssmtp.tar.gz, prints its sha256

The archive holds the launcher (plugins/krew/kubectl-acssmtp) and the license notice; the manifest
(plugins/krew/acssmtp.yaml) names the archive's sha256, and tests/e2e/test_krew.py checks that they agree.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "plugins" / "krew" / "kubectl-acssmtp"
NAME = "kubectl-acssmtp.tar.gz"
LICENSE = b"acs-smtp-operator is licensed under the MIT license (pyproject.toml).\n"


def archive() -> bytes:
    """The archive's bytes: fixed owners, modes and times, and a gzip header without a time or a name."""
    members = [("kubectl-acssmtp", LAUNCHER.read_bytes(), 0o755), ("LICENSE", LICENSE, 0o644)]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)


def build(destination: Path) -> tuple[Path, str]:
    data = archive()
    destination.mkdir(parents=True, exist_ok=True)
    path = destination / NAME
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


if __name__ == "__main__":
    written, digest = build(Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "krew"))
    print(f"{written} sha256 {digest}")
