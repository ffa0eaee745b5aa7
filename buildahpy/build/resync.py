"""A package that is gone from its repository because the repository changed during the build
(a mirror sync between dnf's metadata fetch and its package downloads): dnf says only 404.

The repomd.xml dnf read (in the build's cache) is compared with the repository's current one;
when they differ, the error says the repository changed and that building again reads its new
metadata. The build is not retried here: its transaction was resolved against the old revision,
and the next run's metadata snapshot is a new one (its key is the revision), so nothing of the
old revision is mixed with the new one's packages.

Host binaries: none (reads the build's dnf cache, and repomd.xml with urllib).
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from buildahpy.errors import CommandError
from buildahpy.host import dnf, repodata, repomd
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.plan import Plan
from buildahpy.plan.repos import dnf_vars, enabled_repos

# download_failure's line for a file the repository no longer has
_GONE = re.compile(r"^cannot download (\S+) from repository (\S+): Status code: 404 ")


def changed_repository(error: CommandError, plan: Plan, rootfs: RootFS) -> CommandError:
    """``error``, its hint saying the repository changed during the build when it did."""
    gone = _GONE.match(error.hint)
    if not gone:
        return error
    filename, repo_id = gone.groups()
    host_dirs = [Path(plan.cachedir)] if plan.cachedir else []
    used = repodata.cached_repomd(host_dirs, rootfs, dnf.of(plan).caches, repo_id)
    files = plan.private_repos or [
        path for folder in plan.reposdirs for path in sorted(Path(folder).glob("*.repo"))
    ]
    repos = [
        r
        for r in enabled_repos(files, dnf_vars(plan.target.releasever, plan.varsdirs))
        if r.id == repo_id
    ]
    if used is None or not repos:
        return error
    try:
        now = repomd.revision(repos[0])
    except (OSError, ValueError, ET.ParseError):
        return error
    if now == hashlib.sha256(used).hexdigest():
        return error
    hint = (
        f"repository {repo_id} changed during the build (its metadata is not the one dnf read:"
        f" a mirror sync): {filename} is no longer in it; build again to use the new metadata"
    )
    return CommandError(error.argv, error.returncode, error.stderr, hint=hint, stdout=error.stdout)
