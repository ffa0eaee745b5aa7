"""A docker-registry on 127.0.0.1 for scripts/chaos (the kill class's pushes and registry
fleets), and what a tag there must be after a kill: a whole image, old or new."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TLS = "--tls-verify=false"


@contextmanager
def registry(root: Path) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a registry storing under ``root``; stopped on the way out."""
    if shutil.which("docker-registry") is None or shutil.which("skopeo") is None:
        raise SystemExit("chaos: docker-registry and skopeo are needed (scripts/install-deps)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {root}/data\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    with (root / "registry.log").open("w") as log:
        server = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
        try:
            for _ in range(100):
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            else:
                raise SystemExit(f"chaos: docker-registry did not start: {config}")
            yield f"127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=10)


def digest(reference: str) -> str:
    """The manifest digest the registry serves under ``reference`` ('' when it has none)."""
    done = subprocess.run(
        ["skopeo", "inspect", TLS, "--format", "{{.Digest}}", f"docker://{reference}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


def broken(reference: str) -> str:
    """'' when the tag is a whole image: its manifest, config and every layer can be copied
    out (skopeo checks each blob's digest); otherwise why not."""
    with tempfile.TemporaryDirectory(prefix="buildahpy-chaos-copy-") as scratch:
        done = subprocess.run(
            ["skopeo", "copy", "--quiet", TLS, f"docker://{reference}", f"dir:{scratch}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    return "" if done.returncode == 0 else f"skopeo copy: {done.stderr.strip()[-200:]}"
