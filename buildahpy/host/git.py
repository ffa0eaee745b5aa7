"""Where a recipe file comes from: its git checkout's commit and remote, for the OCI labels.

Host binaries: git. A file outside a checkout, or a host without git, has neither.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from buildahpy.errors import CommandError
from buildahpy.host.tools import base_env, run


def _ask(directory: Path, *argv: str) -> str:
    if shutil.which("git") is None:
        return ""
    try:
        out = run(["git", "-C", str(directory), *argv], env=base_env({}), quiet=True).stdout
    except CommandError:
        return ""
    return out.strip()


def revision(path: Path) -> str:
    """The commit checked out where ``path`` is, "" outside a git checkout."""
    return _ask(path.parent, "rev-parse", "HEAD")


def origin(path: Path) -> str:
    """``git remote get-url origin`` of the checkout ``path`` is in, "" without one."""
    return _ask(path.parent, "remote", "get-url", "origin") if revision(path) else ""
