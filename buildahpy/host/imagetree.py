"""Two mounted image trees compared file by file: what differs between two builds.

Reads the trees under their mountpoints with lstat, readlink, listxattr and O_NOFOLLOW opens,
never following a link (starts no process). ``differences`` is pure.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import attrs


@attrs.frozen
class Entry:
    mode: int  # type and permission bits
    uid: int
    gid: int
    mtime: int  # seconds
    content: str  # sha256 of a regular file, a symlink's target, a device number, else ""
    xattrs: tuple[tuple[str, bytes], ...] = ()
    size: int = 0  # of a regular file (what ``buildahpy diff --files`` shows)


def _content(path: str, st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return os.readlink(path)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    if not stat.S_ISREG(st.st_mode):
        return ""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _xattrs(path: str) -> tuple[tuple[str, bytes], ...]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:  # a file system or a link without xattr support
        return ()
    return tuple(sorted((n, os.getxattr(path, n, follow_symlinks=False)) for n in names))


def entry(path: str) -> Entry:
    st = os.lstat(path)
    size = st.st_size if stat.S_ISREG(st.st_mode) else 0
    return Entry(
        st.st_mode,
        st.st_uid,
        st.st_gid,
        int(st.st_mtime),
        _content(path, st),
        _xattrs(path),
        size,
    )


def snapshot(root: Path) -> dict[str, Entry]:
    """Every entry below ``root`` by its path inside the image ('/etc/passwd')."""
    found: dict[str, Entry] = {}
    for where, dirs, files in os.walk(root):  # never enters a linked directory
        for name in dirs + files:
            path = os.path.join(where, name)
            found["/" + os.path.relpath(path, root)] = entry(path)
    return found


def what_differs(a: Entry, b: Entry) -> list[str]:
    kinds = []
    if stat.S_IFMT(a.mode) != stat.S_IFMT(b.mode) or a.content != b.content:
        kinds.append("content")
    if stat.S_IMODE(a.mode) != stat.S_IMODE(b.mode):
        kinds.append("mode")
    if (a.uid, a.gid) != (b.uid, b.gid):
        kinds.append("owner")
    if a.mtime != b.mtime:
        kinds.append("mtime")
    if a.xattrs != b.xattrs:
        kinds.append("xattrs")
    return kinds


def differences(a: dict[str, Entry], b: dict[str, Entry]) -> list[tuple[str, list[str]]]:
    """(path, what differs) for every path of either tree that is not the same in both."""
    out: list[tuple[str, list[str]]] = []
    for path in sorted(a.keys() | b.keys()):
        if path not in b:
            out.append((path, ["only in the first"]))
        elif path not in a:
            out.append((path, ["only in the second"]))
        elif kinds := what_differs(a[path], b[path]):
            out.append((path, kinds))
    return out
