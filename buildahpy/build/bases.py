"""Building on a base image instead of scratch.

dnf installs only what the base lacks because it reads the rpmdb the base carries; that only
works when the base keeps its rpmdb where the target's rpm does. A base whose rpmdb is elsewhere
(an EL 9 base under a Fedora target, say) would get every package again, so it is an error.
Works through the confined RootFS; starts no process.
"""

from __future__ import annotations

from buildahpy.errors import BuildError
from buildahpy.host.rootfs import RootFS

RPMDB_PATHS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm")
_DB_FILES = ("rpmdb.sqlite", "Packages", "Packages.db")


def has_db(root: RootFS, path: str) -> bool:
    return any(root.exists(f"{path}/{name}") for name in _DB_FILES)


def check_rpmdb(root: RootFS, expected: str, base: str) -> None:
    """Raise when the base has an rpmdb, but not at ``expected`` (symlinks followed, confined)."""
    if has_db(root, expected):
        return
    elsewhere = [path for path in RPMDB_PATHS if path != expected and has_db(root, path)]
    if elsewhere:
        raise BuildError(
            f"base image {base} keeps its rpmdb in {elsewhere[0]}, but the target's rpm uses "
            f"{expected}: set distro= and releasever= to the base's so dnf sees what it has"
        )
