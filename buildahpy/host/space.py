"""Free space on the filesystems a build writes to, for the error of a build that ran out.

Host binaries: none (statvfs(2) only).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence

from buildahpy.log import human_size

# dnf's download (curl cannot write), rpm's transaction check, sqlite's SQLITE_FULL (dnf's
# history, the rpmdb) and a plain ENOSPC (Go's error text is lower case)
NO_SPACE = re.compile(
    r"Curl error \(23\)|[Nn]o space left on device|needs \S+ more space|more space needed"
    r"|database or disk is full"
)
# rpm 4.18 reports a payload write that failed for want of space with whatever errno was left
# over ("cpio: write failed - No such file or directory", "- No data available"): a failed
# write means no space only when the filesystem is (nearly) full after it
WRITE_FAILED = re.compile(r"cpio: write failed")
NEARLY_FULL = 1 / 20  # of the filesystem's size, or less than
NEARLY_FULL_BYTES = 64 << 20
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
NO_SPACE_LEFT = "no space left on device"

Place = tuple[str, str]  # (what, path): ("the dnf cache", "/var/cache/buildahpy")


def free_bytes(path: str) -> int | None:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem, or None."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def nearly_full(path: str) -> bool:
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    free = st.f_bavail * st.f_frsize
    return free < max(NEARLY_FULL_BYTES, st.f_blocks * st.f_frsize * NEARLY_FULL)


def no_space_left(places: Sequence[Place]) -> str:
    """``no space left on device for the dnf cache /var/cache/... (12.3 kB free)``: of
    ``places``, the one with the least room left (the first of those with as little)."""
    known = [(free, what, path) for what, path in places if (free := free_bytes(path)) is not None]
    if not known:
        return NO_SPACE_LEFT
    free, what, path = min(known, key=lambda place: place[0])
    return f"{NO_SPACE_LEFT} for {what} {path} ({human_size(free)} free)"


def no_space_hint(text: str, places: Sequence[Place]) -> str | None:
    """:func:`no_space_left` when a tool's output says it ran out of space (or that a write
    failed while one of ``places`` is nearly full); None when it says nothing of space."""
    if NO_SPACE.search(text):
        return no_space_left(places)
    if WRITE_FAILED.search(text):
        full = [(what, path) for what, path in places if nearly_full(path)]
        return no_space_left(full) if full else None
    return None


def is_full(exc: BaseException) -> bool:
    """An OSError of a filesystem (or a quota) with no room left."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS
