"""Users and groups in the image: /etc/passwd and /etc/group edited directly (no shadow-utils).

Pure text functions plus one writer that goes through the confined RootFS.
"""

from __future__ import annotations

import stat

from buildahpy.errors import BuildError
from buildahpy.host.rootfs import Ids, RootFS


def _entries(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def add_entry(text: str, name: str, ident: int, line: str, what: str) -> str | None:
    """Append ``line`` to a passwd/group text; None when an identical entry is already there."""
    for fields in _entries(text):
        if len(fields) < 3:
            continue
        if fields[0] == name:
            if fields[2] == str(ident):
                return None
            raise BuildError(f"{what} '{name}' already exists in the image with id {fields[2]}")
        if fields[2] == str(ident):
            raise BuildError(f"{what} id {ident} is already taken by '{fields[0]}' in the image")
    prefix = text if not text or text.endswith("\n") else text + "\n"
    return prefix + line + "\n"


def has_group(text: str, gid: int) -> bool:
    return any(len(f) > 2 and f[2] == str(gid) for f in _entries(text))


def _update(
    root: RootFS, path: str, name: str, ident: int, line: str, what: str, mode: int = 0o644
) -> bool:
    new = add_entry(root.read_text(path), name, ident, line, what)
    if new is None:
        return False
    if not root.exists("/etc"):
        root.mkdir("/etc")
    # the databases are edited where they are: /etc/passwd as a link stays a link
    root.write_bytes(path, new.encode(), mode, follow=True)
    return True


def _shadow_append(root: RootFS, path: str, line: str) -> None:
    """Keep /etc/shadow and /etc/gshadow in step when the image has them."""
    if root.exists(path):
        text = root.read_text(path)
        prefix = text if not text or text.endswith("\n") else text + "\n"
        root.write_bytes(path, (prefix + line + "\n").encode(), 0o000, follow=True)


def add_group(root: RootFS, name: str, gid: int) -> None:
    if _update(root, "/etc/group", name, gid, f"{name}:x:{gid}:", "group"):
        _shadow_append(root, "/etc/gshadow", f"{name}:!::")


def add_user(
    root: RootFS, name: str, uid: int, gid: int, home: str, shell: str, *, gecos: str = ""
) -> None:
    if not has_group(root.read_text("/etc/group"), gid):
        raise BuildError(f"user '{name}': group id {gid} does not exist; call add_group first")
    line = f"{name}:x:{uid}:{gid}:{gecos}:{home}:{shell}"
    if _update(root, "/etc/passwd", name, uid, line, "user"):
        _shadow_append(root, "/etc/shadow", f"{name}:!!:::::::")


def add_member_line(text: str, user: str, group: str) -> str | None:
    """/etc/group (or gshadow) text with ``user`` in ``group``'s member list; None if already."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] != group or len(fields) < 4:
            continue
        members = [m for m in fields[-1].split(",") if m]
        if user in members:
            return None
        fields[-1] = ",".join([*members, user])
        lines[index] = ":".join(fields)
        return "\n".join(lines) + "\n"
    raise BuildError(f"group '{group}' does not exist in the image")


def add_member(root: RootFS, user: str, group: str) -> None:
    """Add a supplementary member, as sysusers.d's ``m`` lines do (gshadow kept in step)."""
    new = add_member_line(root.read_text("/etc/group"), user, group)
    if new is None:
        return
    root.write_bytes("/etc/group", new.encode(), 0o644, follow=True)
    if root.exists("/etc/gshadow"):
        try:
            shadow = add_member_line(root.read_text("/etc/gshadow"), user, group)
        except BuildError:  # a gshadow without the group: nothing to keep in step
            shadow = None
        if shadow is not None:
            root.write_bytes("/etc/gshadow", shadow.encode(), 0o000, follow=True)


ACCOUNT_FILES = ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow")


def merge_entries(packaged: str, live: str) -> str:
    """A package's account file with the live file's entries kept: an entry of both is the live
    one (it may have been changed on purpose), entries only the live file has come last."""
    live_lines = [line for line in live.splitlines() if line and not line.startswith("#")]
    live_by_name = {line.split(":")[0]: line for line in live_lines}
    merged = [live_by_name.get(line.split(":")[0], line) for line in packaged.splitlines()]
    names = {line.split(":")[0] for line in packaged.splitlines()}
    merged += [line for line in live_lines if line.split(":")[0] not in names]
    return "".join(f"{line}\n" for line in merged)


def adopt_rpmnew(root: RootFS) -> list[str]:
    """The account files a package (``setup``) left as ``.rpmnew``, merged in and removed.

    A user made before ``setup`` is installed (by rpm's %sysusers step for a package of an
    earlier transaction, or by the recipe) means an /etc/passwd exists when setup's arrives:
    rpm keeps it, %config(noreplace), and puts setup's beside it as passwd.rpmnew, so the image
    would have the user and no root. Returns the files merged."""
    merged = []
    for path in ACCOUNT_FILES:
        packaged = root.lstat(f"{path}.rpmnew")
        if packaged is None or not stat.S_ISREG(packaged.st_mode):
            continue
        text = merge_entries(root.read_text(f"{path}.rpmnew"), root.read_text(path))
        root.write_bytes(path, text.encode(), stat.S_IMODE(packaged.st_mode), follow=True)
        root.remove(f"{path}.rpmnew")
        merged.append(path)
    return merged


def owner_ids(passwd: str, group: str, owner: tuple[str | int, str | int | None]) -> Ids:
    """The ids ``owner=`` names, from the image's /etc/passwd and /etc/group texts: a user
    name gives its uid and (without a group) its primary group; a bare uid its passwd entry's
    group if it has one, else the same number; a group name its gid."""
    user, grp = owner
    users = {f[0]: f for f in _entries(passwd) if len(f) > 3}
    if isinstance(user, str):
        if user not in users or not users[user][2].isdigit() or not users[user][3].isdigit():
            raise BuildError(f"owner {_text(owner)}: no user '{user}' in the image's /etc/passwd")
        uid, primary = int(users[user][2]), int(users[user][3])
    else:
        by_id = [f for f in users.values() if f[2] == str(user) and f[3].isdigit()]
        uid, primary = user, int(by_id[0][3]) if by_id else user
    if grp is None:
        return uid, primary
    if isinstance(grp, int):
        return uid, grp
    groups = {f[0]: f for f in _entries(group) if len(f) > 2}
    if grp not in groups or not groups[grp][2].isdigit():
        raise BuildError(f"owner {_text(owner)}: no group '{grp}' in the image's /etc/group")
    return uid, int(groups[grp][2])


def _text(owner: tuple[str | int, str | int | None]) -> str:
    return repr(f"{owner[0]}" if owner[1] is None else f"{owner[0]}:{owner[1]}")


def resolve_owner(root: RootFS, owner: tuple[str | int, str | int | None]) -> Ids:
    """``owner_ids`` against the image's account files as they are now."""
    return owner_ids(root.read_text("/etc/passwd"), root.read_text("/etc/group"), owner)
