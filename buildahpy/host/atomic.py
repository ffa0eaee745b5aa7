"""Files written whole or not at all, also when two runs write the same path at once.

Each write goes to a temporary file of its own in the target's directory (a fixed ``.partial``
name would be shared: one run truncating it while the other renames it publishes half a file,
or fails the rename), then rename(2) puts it in place: a reader sees the old file or a new one,
and the last writer wins, whole. Only Python file operations.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(partial, 0o666 & ~_umask())  # as open() would have made it, not mkstemp's 0600
        os.replace(partial, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def _umask() -> int:
    """The process's umask, read without setting it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022
