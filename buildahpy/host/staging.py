"""Directories being made in the shared cache's ``<flavour>/tmp/`` (a metadata snapshot before
its rename into meta/, an old snapshot being deleted), each claimed by a lock, so that what a
killed run left there is told from what a live run is making, and removed.

Only Python file operations. A run creates and locks (flock(2), exclusive)
``tmp/<name>.lock`` before ``tmp/<name>`` exists, and holds the lock until the directory is
gone; the kernel drops it when the run dies, however it dies. ``collect`` (gc, and the check at
startup) removes each directory whose lock it can take, and a directory without a lock file
(left by a buildahpy from before the locks), then the free lock files.
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from buildahpy.log import get_logger

_SUFFIX = ".lock"


def _lock_new(lock: Path) -> int | None:
    """An fd holding the lock of a lock file this call created, or None (the name is taken,
    or a collector unlinked it before we locked it: try another name)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
            return fd
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.ENOENT):
            os.close(fd)
            raise
    os.close(fd)
    return None


@contextmanager
def directory(tmp: Path, prefix: str) -> Iterator[Path]:
    """A new, empty directory ``tmp/<prefix><random>``, locked as being made; removed (with
    whatever is still in it) and unlocked on the way out."""
    while True:
        name = f"{prefix}{secrets.token_hex(6)}"
        fd = _lock_new(tmp / f"{name}{_SUFFIX}")
        if fd is not None:
            break
    path = tmp / name
    try:
        os.mkdir(path, 0o700)
        yield path
    finally:
        try:
            shutil.rmtree(path, ignore_errors=True)
            os.unlink(tmp / f"{name}{_SUFFIX}")
        finally:
            os.close(fd)


def _take(lock: Path) -> int | None:
    """An fd holding ``lock`` (an existing lock file) when nobody does; None: held or gone."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def collect(root: Path) -> list[str]:
    """Remove what killed runs left in ``<root>/<flavour>/tmp/``; returns the directories
    removed. One held by a live run is kept."""
    removed = []
    for tmp in sorted(root.glob("*/tmp")):
        entries = set(os.listdir(tmp))
        for entry in sorted(entries):
            path = tmp / entry
            if entry.endswith(_SUFFIX) or not path.is_dir() or path.is_symlink():
                continue
            lock = tmp / f"{entry}{_SUFFIX}"
            fd = _take(lock) if f"{entry}{_SUFFIX}" in entries else None
            if fd is None and lock.exists():
                continue  # being made
            try:
                shutil.rmtree(path, ignore_errors=True)
                lock.unlink(missing_ok=True)
            finally:
                if fd is not None:
                    os.close(fd)
            get_logger().info("removed leftover snapshot staging", path=str(path))
            removed.append(str(path))
        _sweep(tmp)
    return removed


def _sweep(tmp: Path) -> None:
    """Free lock files whose directory is gone (a run killed between the two)."""
    for entry in os.listdir(tmp):
        if not entry.endswith(_SUFFIX) or (tmp / entry.removesuffix(_SUFFIX)).exists():
            continue
        fd = _take(tmp / entry)
        if fd is not None:
            try:
                (tmp / entry).unlink(missing_ok=True)
            finally:
                os.close(fd)
