"""Checks that run before anything is created; each failure says how to fix it."""

from __future__ import annotations

import os

from buildahpy.errors import PreflightError
from buildahpy.host.dnf import candidates
from buildahpy.host.tools import which

REQUIRED = {
    "buildah": "install buildah (Fedora: dnf install buildah; Debian: apt-get install buildah)",
    # any flavour will do here; dnf.find_dnf then picks the one asked for
    "dnf": "install dnf on the host (Debian: apt-get install dnf5, or dnf)",
    "rpm": "install rpm (Debian: apt-get install rpm)",
    "podman": "install podman (used to report image sizes)",
}


def check_host(*, rootless: bool = False) -> None:
    """Tools present; and root, real or of the user namespace buildahpy.privilege.rootless set up.

    ``rootless``: the check before re-executing under ``buildah unshare``, not yet root.
    """
    missing = [
        f"'{tool}' is missing: {fix}" for tool, fix in REQUIRED.items() if not _present(tool)
    ]
    if missing:
        raise PreflightError("; ".join(missing))
    if not rootless and os.geteuid() != 0:
        # only reached when the re-execution did not make us root of a user namespace
        raise PreflightError(
            "buildahpy is not root, not even in the user namespace of 'buildah unshare'; "
            "check that 'buildah unshare id -u' prints 0"
        )


def _present(tool: str) -> bool:
    names = candidates("auto") if tool == "dnf" else (tool,)
    return any(which(name) for name in names)
