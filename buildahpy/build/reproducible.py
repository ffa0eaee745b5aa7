"""What would differ between two builds of the same inputs, made the same before commit.

Works only through the confined RootFS; starts no process. The image's one time comes from
plan/timestamp.py; here the rootfs is brought in line with it: caches and random state that a
package or scriptlet leaves are removed or emptied, /etc/shadow's last-change days are clamped
to it, and every file's mtime too (buildah's ``commit --timestamp`` then stamps the layer and
the config with the same value).
"""

from __future__ import annotations

import stat

from buildahpy.host.rootfs import RootFS
from buildahpy.plan import timestamp

# Written with the time or randomness of the build: ldconfig's cache of library mtimes,
# systemd's and others' random seeds. Each is recreated by whoever needs it at run time.
VARIABLE_FILES = (
    "/var/cache/ldconfig/aux-cache",
    "/var/lib/systemd/random-seed",
    "/var/lib/random-seed",
    "/var/lib/systemd/catalog/database",
)
# Random per machine: systemd's scriptlets fill it in; a container image ships it empty
# (systemd then treats it as not yet set, podman bind-mounts its own).
EMPTIED_FILES = ("/etc/machine-id",)
SHADOW_FILES = ("/etc/shadow", "/etc/shadow-")


def clamp_shadow_line(line: str, day: int) -> str:
    """The third field (days since 1970 of the last password change) no later than ``day``."""
    fields = line.split(":")
    if len(fields) < 3 or not fields[2].isdigit() or int(fields[2]) <= day:
        return line
    fields[2] = str(day)
    return ":".join(fields)


def clamp_shadow(text: str, day: int) -> str:
    return "".join(clamp_shadow_line(line, day) for line in text.splitlines(keepends=True))


def remove_variable(root: RootFS) -> list[str]:
    removed = [path for path in VARIABLE_FILES if root.remove(path)]
    for path in EMPTIED_FILES:
        st = root.lstat(path)
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_size > 0:
            root.write_bytes(path, b"", stat.S_IMODE(st.st_mode))
            removed.append(path)
    return removed


def fix_shadow(root: RootFS, epoch: int) -> list[str]:
    changed = []
    for path in SHADOW_FILES:
        st = root.lstat(path)
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        text = root.read_bytes(path).decode("utf-8", "surrogateescape")
        clamped = clamp_shadow(text, timestamp.days(epoch))
        if clamped != text:
            root.write_bytes(path, clamped.encode("utf-8", "surrogateescape"), st.st_mode & 0o7777)
            changed.append(path)
    return changed


def normalise(root: RootFS, epoch: int) -> dict[str, object]:
    """Everything above, the mtimes last (the edits before them touch files)."""
    removed = remove_variable(root)
    shadow = fix_shadow(root, epoch)
    return {"removed": removed, "shadow": shadow, "clamped": root.clamp_mtimes(epoch)}
