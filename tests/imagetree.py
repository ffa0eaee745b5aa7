"""Describe a committed image's files as JSON: ``python imagetree.py TAG [PATH...]``.

Run as root against root's storage, or as an unprivileged user inside ``buildah unshare`` against
that user's storage, so both show ids as the image has them. Each path maps to [mode string,
uid, gid, symlink target or size and sha256, security.capability as hex]. The rpmdb's content
is left out (it records install times). With PATHs, only those are described. The mount is a
new container on the committed image, so it shows what the committed layers hold.

A standalone script (standard library only): the rootless tests copy it where their user can
read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys

NO_CONTENT = ("usr/lib/sysimage/rpm/", "var/lib/rpm/")


def describe(root: str, rel: str) -> list[object]:
    full = os.path.join(root, rel)
    st = os.lstat(full)
    entry: list[object] = [stat.filemode(st.st_mode), st.st_uid, st.st_gid]
    if stat.S_ISLNK(st.st_mode):
        entry.append(os.readlink(full))
    elif stat.S_ISREG(st.st_mode):
        entry.append(st.st_size)
        if not rel.startswith(NO_CONTENT):
            with open(full, "rb") as handle:
                entry.append(hashlib.sha256(handle.read()).hexdigest())
    try:
        entry.append(os.getxattr(full, "security.capability", follow_symlinks=False).hex())
    except OSError:
        entry.append("")
    return entry


def tree(root: str) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            found[rel] = describe(root, rel)
    return found


def main(argv: list[str]) -> int:
    tag, paths = argv[1], argv[2:]
    name = subprocess.check_output(["buildah", "from", "--pull=never", tag], text=True).strip()
    try:
        mount = subprocess.check_output(["buildah", "mount", name], text=True).strip()
        try:
            result = {p: describe(mount, p) for p in paths} if paths else tree(mount)
        finally:
            subprocess.run(["buildah", "umount", name], check=True, capture_output=True)
    finally:
        subprocess.run(["buildah", "rm", name], check=True, capture_output=True)
    json.dump(result, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
