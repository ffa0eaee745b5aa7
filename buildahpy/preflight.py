"""Checks that run before anything is created; each failure says how to fix it."""

from __future__ import annotations

import os

from .errors import PreflightError
from .tools import which

REQUIRED = {
    "buildah": "install buildah (Fedora: dnf install buildah; Debian: apt-get install buildah)",
    "dnf": "install dnf on the host (Debian: apt-get install dnf)",
    "rpm": "install rpm (Debian: apt-get install rpm)",
    "podman": "install podman (used to report image sizes)",
}


def check_host() -> None:
    missing = [f"'{tool}' is missing: {fix}" for tool, fix in REQUIRED.items() if not which(tool)]
    if missing:
        raise PreflightError("; ".join(missing))
    if os.geteuid() != 0:
        raise PreflightError(
            "buildahpy must run as root for now (rootless builds are not supported yet); "
            "run it with sudo"
        )
