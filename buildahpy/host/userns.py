"""What an unprivileged user needs for a build in a user namespace, checked before anything exists.

Subordinate id ranges in /etc/subuid and /etc/subgid, newuidmap and newgidmap installed setuid
root or with file capabilities, user namespaces enabled, and a containers-storage driver that
works without root (native overlay on Linux >= 5.13, fuse-overlayfs, or vfs). The parsers are
pure and tested as data; ``check`` gathers the facts and raises one PreflightError naming every
problem with its fix. Starts no process.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path

import attrs

from buildahpy.errors import PreflightError
from buildahpy.host.tools import which

SUBID_FILES = {"uid": "/etc/subuid", "gid": "/etc/subgid"}
# Images own files up to 65534 (nobody); fewer subordinate ids than this cannot map them all.
FULL_RANGE = 65536
NATIVE_OVERLAY = (5, 13)  # the first kernel whose overlayfs mounts work in a user namespace
SYSTEM_STORAGE_CONFS = ("/etc/containers/storage.conf", "/usr/share/containers/storage.conf")


def parse_subids(text: str, user: str | None, uid: int) -> list[tuple[int, int]]:
    """The (start, count) ranges /etc/subuid or /etc/subgid grants, by name or by number."""
    ranges = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or line.lstrip().startswith("#"):
            continue
        owner, start, count = fields
        if owner not in (user, str(uid)) or not (start.isdigit() and count.isdigit()):
            continue
        if int(count) > 0:
            ranges.append((int(start), int(count)))
    return ranges


def subid_problem(kind: str, ranges: list[tuple[int, int]], user: str) -> str | None:
    path = SUBID_FILES[kind]
    if ranges:
        return None
    return (
        f"no subordinate {kind}s for user '{user}' in {path}: as root, add a range, e.g. "
        f"usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}"
    )


def idmap_helper_problem(
    name: str, path: str | None, mode: int, owner: int, has_caps: bool
) -> str | None:
    """newuidmap/newgidmap must be there and privileged (setuid root, or file capabilities)."""
    package = "uidmap (Debian) or shadow-utils (Fedora)"
    if path is None:
        return f"'{name}' is missing: install {package}"
    if not mode & stat.S_IXOTH and not mode & stat.S_IXUSR:
        return f"{path} is not executable: reinstall {package}"
    if (owner == 0 and mode & stat.S_ISUID) or has_caps:
        return None
    return (
        f"{path} is neither setuid root nor has file capabilities, so it cannot map ids: "
        f"as root, chmod u+s {path} (or setcap cap_setuid,cap_setgid+ep {path})"
    )


def userns_sysctl_problem(max_namespaces: str | None, unprivileged_clone: str | None) -> str | None:
    if max_namespaces is not None and max_namespaces.strip() == "0":
        return "user namespaces are disabled: as root, sysctl -w user.max_user_namespaces=15000"
    if unprivileged_clone is not None and unprivileged_clone.strip() == "0":
        return (
            "unprivileged user namespaces are disabled: "
            "as root, sysctl -w kernel.unprivileged_userns_clone=1"
        )
    return None


@attrs.frozen
class StorageConf:
    path: str  # where it came from ("" when no file exists)
    driver: str = ""
    mount_program: str = ""


def parse_storage_conf(text: str, path: str) -> StorageConf:
    """driver and overlay's mount_program from a containers storage.conf (TOML)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PreflightError(f"{path} is not valid TOML: {exc}") from None
    storage = data.get("storage", {})
    options = storage.get("options", {})
    program = options.get("overlay", {}).get("mount_program") or options.get("mount_program")
    return StorageConf(path, str(storage.get("driver") or ""), str(program or ""))


def storage_conf_paths(env: Mapping[str, str], home: str) -> list[str]:
    """Where containers-storage looks, first match wins: $CONTAINERS_STORAGE_CONF, the user's
    own file, then the system's."""
    if env.get("CONTAINERS_STORAGE_CONF"):
        return [env["CONTAINERS_STORAGE_CONF"]]
    config_home = env.get("XDG_CONFIG_HOME") or f"{home}/.config"
    return [f"{config_home}/containers/storage.conf", *SYSTEM_STORAGE_CONFS]


def kernel_version(release: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def storage_problem(
    conf: StorageConf,
    driver: str,
    kernel: tuple[int, int],
    fuse_overlayfs: str | None,
    fuse_device_ok: bool,
) -> str | None:
    """None when the driver works rootless; else what to change. ``driver`` is the effective
    one ($STORAGE_DRIVER or the file's); empty lets containers-storage pick one that works."""
    where = conf.path or "~/.config/containers/storage.conf"
    use_vfs = f'set driver = "vfs" under [storage] in {where}'
    if driver != "overlay":
        return None  # vfs works everywhere; others are the user's explicit choice
    program = conf.mount_program
    if program and not os.access(program, os.X_OK):
        return f"overlay's mount_program {program} ({where}) is missing: install it, or {use_vfs}"
    if program or kernel < NATIVE_OVERLAY:
        if not (program or fuse_overlayfs):
            return (
                f"the overlay driver ({where}) needs Linux >= 5.13 for rootless mounts "
                f"(this is {kernel[0]}.{kernel[1]}) or fuse-overlayfs: install fuse-overlayfs, "
                f"or {use_vfs}"
            )
        if not fuse_device_ok:
            return f"fuse-overlayfs needs read-write access to /dev/fuse: grant it, or {use_vfs}"
    return None


def is_initial_namespace(uid_map: str) -> bool:
    """True in the host's user namespace, whose map is the identity over all 2**32-1 ids."""
    return uid_map.split() == ["0", "0", "4294967295"]


def in_user_namespace() -> bool:
    """True inside ``buildah unshare`` (or any other user namespace)."""
    try:
        return not is_initial_namespace(Path("/proc/self/uid_map").read_text())
    except OSError:
        return False


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _helper(name: str) -> str | None:
    path = which(name)
    if path is None:
        return idmap_helper_problem(name, None, 0, 0, False)
    st = os.stat(path)
    try:
        has_caps = bool(os.getxattr(path, "security.capability"))
    except OSError:
        has_caps = False
    return idmap_helper_problem(name, path, st.st_mode, st.st_uid, has_caps)


def _storage(env: Mapping[str, str], home: str) -> str | None:
    conf = StorageConf("")
    for path in storage_conf_paths(env, home):
        text = _read(path)
        if text is not None:
            conf = parse_storage_conf(text, path)
            break
    driver = env.get("STORAGE_DRIVER") or conf.driver
    fuse_ok = os.access("/dev/fuse", os.R_OK | os.W_OK)
    kernel = kernel_version(os.uname().release)
    return storage_problem(conf, driver, kernel, which("fuse-overlayfs"), fuse_ok)


def check(env: Mapping[str, str] | None = None) -> None:
    """Raise PreflightError naming every missing piece, each with its fix."""
    env = os.environ if env is None else env
    uid = os.getuid()
    try:
        entry = pwd.getpwuid(uid)
        user, home = entry.pw_name, entry.pw_dir
    except KeyError:
        user, home = str(uid), env.get("HOME", "/")
    problems = [
        subid_problem(kind, parse_subids(_read(path) or "", user, uid), user)
        for kind, path in SUBID_FILES.items()
    ]
    problems += [_helper("newuidmap"), _helper("newgidmap")]
    problems.append(
        userns_sysctl_problem(
            _read("/proc/sys/user/max_user_namespaces"),
            _read("/proc/sys/kernel/unprivileged_userns_clone"),
        )
    )
    problems.append(_storage(env, home))
    found = [p for p in problems if p]
    if found:
        raise PreflightError("rootless build impossible: " + "; ".join(found))
