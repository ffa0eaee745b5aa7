"""After the transaction: the rpmdb where scanners look, and dnf's leftovers gone.

Works only through the confined RootFS; starts no process.
"""

from __future__ import annotations

from collections.abc import Iterable

from buildahpy.host.dnf import FLAVOURS
from buildahpy.host.rootfs import RootFS

# What either dnf leaves in an installroot (each flavour says, host/dnf/): every flavour's,
# since a base image may have been made with the other one. We remove them all, the history
# and state too unless the image has a package manager.
DNF_CACHES = tuple(path for flavour in FLAVOURS.values() for path in flavour.caches)
DNF_LOGS = tuple(path for flavour in FLAVOURS.values() for path in flavour.logs)
DNF_STATE = tuple(path for flavour in FLAVOURS.values() for path in flavour.state)
PACKAGE_MANAGERS = frozenset({"dnf", "dnf5", "microdnf", "yum"})
# Debian's rpm defaults to ~/.rpmdb; should a macro ever slip through, never ship it.
STRAY_RPMDBS = ("/root/.rpmdb",)


def host_tool_paths(rpmdb_path: str, *, dnf: bool) -> tuple[str, ...]:
    """What the host's dnf (or, with ``dnf=False``, rpm alone) opens under the mountpoint as
    plain host paths: caches, logs, state, module config and the rpmdb (rpm opens it before it
    chroots into the image)."""
    if not dnf:
        return (rpmdb_path,)
    return (*DNF_CACHES, *DNF_LOGS, *DNF_STATE, "/etc/dnf", rpmdb_path)


def leftovers(package_names: Iterable[str]) -> tuple[str, ...]:
    """The paths to delete, given the names of the packages in the image."""
    keep_state = bool(PACKAGE_MANAGERS & set(package_names))
    return DNF_CACHES + DNF_LOGS + (() if keep_state else DNF_STATE) + STRAY_RPMDBS


def remove_leftovers(root: RootFS, package_names: Iterable[str]) -> list[str]:
    return [path for path in leftovers(package_names) if root.remove(path)]


def tidy_rpmdb(root: RootFS, rpmdb_path: str) -> list[str]:
    """Drop SQLite's shared-memory index and an empty write-ahead log left by the last reader.

    A WAL with content holds committed transactions and is kept.
    """
    wal = root.lstat(f"{rpmdb_path}/rpmdb.sqlite-wal")
    if wal is not None and wal.st_size > 0:
        return []
    paths = (f"{rpmdb_path}/rpmdb.sqlite-wal", f"{rpmdb_path}/rpmdb.sqlite-shm")
    return [path for path in paths if root.remove(path)]


def link_rpmdb(root: RootFS, rpmdb_path: str) -> bool:
    """Fedora >= 36 keeps the rpmdb in /usr/lib/sysimage/rpm with /var/lib/rpm pointing at it."""
    if rpmdb_path != "/usr/lib/sysimage/rpm" or not root.exists(rpmdb_path):
        return False
    if root.lstat("/var/lib/rpm") is not None:
        return False
    if not root.exists("/var/lib"):
        root.mkdir("/var/lib")
    root.symlink("../../usr/lib/sysimage/rpm", "/var/lib/rpm")
    return True
