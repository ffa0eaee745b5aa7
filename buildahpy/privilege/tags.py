"""One run at a time settles a tag on one storage; another run that wants it waits, and says so.

Before a fleet run decides whether a recipe is up to date, its scheduler takes an exclusive
flock(2) on ``<lock dir>/tag-<sha256 of the tag>.lock`` (gc.py's lock directory in the
graphroot, so builders in two containers over one storage see each other's) and holds it until
the recipe is settled: up to date, failed, skipped, or built and tagged. The file says who holds
it (pid and since when, for the waiter's message). A run that finds the lock held waits and
tries again (the scheduler's loop, fleet/tagwait.py); when it has the lock it reads the tag
again, so an image the other run built from the same inputs is up to date and is not built
twice.

The kernel drops a flock when its holder dies, however it dies, so a waiter takes over from a
killed run at its next try and never hangs on a stale lock. A forked build inherits its
scheduler's locks; it keeps its own recipe's (a build that outlives its killed scheduler still
owns its tag until it ends) and closes the others at once (``close_inherited``), which its
scheduler releases on its own schedule.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import attrs

from buildahpy.privilege import gc

PREFIX = "tag-"


@attrs.frozen
class Holder:
    """Who holds a tag's lock, as the lock file says (a build in another container wrote the
    pid it has in its own pid namespace)."""

    pid: str
    since: str  # HH:MM:SS, local time

    def line(self, tag: str) -> str:
        return f"waiting for {tag}: being built by pid {self.pid} since {self.since}"


@attrs.frozen
class TagLock:
    tag: str
    path: Path
    fd: int


_held: dict[str, TagLock] = {}


def lock_path(tag: str, directory: Path | None = None) -> Path:
    digest = hashlib.sha256(tag.encode()).hexdigest()[:32]
    return (directory or gc.lock_dir()) / f"{PREFIX}{digest}.lock"


def try_claim(tag: str, directory: Path | None = None) -> TagLock | Holder:
    """The lock of ``tag``, taken now, or who holds it."""
    path = lock_path(tag, directory)
    fd = gc.try_lock(path)
    if fd is None:
        return holder(path)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {time.time():.0f} {tag}\n".encode())
    lock = TagLock(tag, path, fd)
    _held[tag] = lock
    return lock


def holder(path: Path) -> Holder:
    try:
        fields = path.read_text().split()
    except OSError:
        fields = []
    pid = fields[0] if fields else "?"
    try:
        since = time.strftime("%H:%M:%S", time.localtime(int(fields[1])))
    except (IndexError, ValueError):
        since = "?"
    return Holder(pid, since)


def building(tag: str, directory: Path | None = None) -> Holder | None:
    """Who builds ``tag`` right now (another run), or None; takes nothing."""
    if tag in _held:
        return None
    path = lock_path(tag, directory)
    fd = gc.try_lock(path)
    if fd is None:
        return holder(path)
    gc.release_lock(path, fd)
    return None


def release(lock: TagLock) -> None:
    if _held.get(lock.tag) is lock:
        del _held[lock.tag]
        gc.release_lock(lock.path, lock.fd)


def close_inherited(keep: str) -> None:
    """In a forked build: close the locks of the other recipes (the scheduler still holds
    them), keep this build's own."""
    for tag, lock in list(_held.items()):
        if tag != keep:
            os.close(lock.fd)
            del _held[tag]
