"""Free space on the filesystems a build writes to, for the error of a build that ran out.

Host binaries: none (statvfs(2) only).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from buildahpy.log import human_size

# dnf's download (curl cannot write), rpm's transaction check and a plain ENOSPC
NO_SPACE = re.compile(r"Curl error \(23\)|No space left on device|needs \S+ more space")


def free_bytes(path: str) -> int | None:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem, or None."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def no_space_hint(text: str, places: Sequence[tuple[str, str]]) -> str | None:
    """``no space left on device for the dnf cache /var/cache/... (12.3 kB free)`` when a
    tool's output says it ran out of space: of ``places`` ((what, path) pairs), the one with
    the least room left; None when the output says nothing of space."""
    if not NO_SPACE.search(text):
        return None
    known = [(free, what, path) for what, path in places if (free := free_bytes(path)) is not None]
    if not known:
        return "no space left on device"
    free, what, path = min(known)
    return f"no space left on device for {what} {path} ({human_size(free)} free)"
