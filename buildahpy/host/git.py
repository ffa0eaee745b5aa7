"""Where a recipe file comes from: its git checkout's commit and remote, for the OCI labels.

Host binaries: git. A file outside a checkout, or a host without git, has neither.
"""

from __future__ import annotations

import functools
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


@functools.cache
def checkout(directory: Path) -> tuple[str, str]:
    """The commit checked out in ``directory`` and its ``origin`` remote's URL ("" for each
    that is not there), asked once per directory and run: every recipe of a directory shares
    them. Two git runs, the second only inside a checkout (rev-parse cannot print a remote's
    URL, and ``remote get-url`` applies the user's ``insteadOf`` rewrites, as a clone would)."""
    head = _ask(directory, "rev-parse", "HEAD")
    return head, _ask(directory, "remote", "get-url", "origin") if head else ""


def revision(path: Path) -> str:
    """The commit checked out where ``path`` is, "" outside a git checkout."""
    return checkout(path.parent)[0]


def origin(path: Path) -> str:
    """``git remote get-url origin`` of the checkout ``path`` is in, "" without one."""
    return checkout(path.parent)[1]
