"""Users and groups that packages declare in sysusers.d(5) files, created in the image.

rpm >= 4.19 creates them itself before a package's files are unpacked, by running
``%__systemd_sysusers [--replace PATH] [--root ROOT] -`` on the HOST, outside the chroot, with the
package's sysusers.d lines on stdin (lib/psm.c, runSysusers). Rootless that host tool fails
(buildah issues 6119 and 6212), so buildahpy points the macro at this module instead
(``python -m buildahpy.build.sysusers``); on an older rpm, which ignores sysusers.d, the same
applier runs over the image's sysusers.d files after each transaction. Either way the entries go
through ``accounts`` and the confined RootFS, so a line can never write outside the image.

Starts no process. Supported: ``u`` (and ``u!``), ``g``, ``m`` and ``r`` lines; ids ``-``, a
number, ``uid:gid`` (gid a number or a group name) or the path of a file whose owner gives them.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from buildahpy.api import validate
from buildahpy.build import accounts
from buildahpy.errors import BuildahpyError, BuildError
from buildahpy.host.rootfs import RootFS

SYSUSERS_DIRS = (
    "/usr/lib/sysusers.d",
    "/usr/local/lib/sysusers.d",
    "/run/sysusers.d",
    "/etc/sysusers.d",
)  # later directories override a file of the same name
NOLOGIN = "/usr/sbin/nologin"  # what systemd-sysusers gives system users
# systemd's fallback when the image has no login.defs: ids counting down from 999
DEFAULT_RANGE = (1, 999)


@attrs.frozen
class Entry:
    kind: str  # "u", "g", "m" or "r"
    name: str
    ident: str = "-"  # "-", "N", "N:G" or "/path"; for m the group; for r "lo-hi"
    gecos: str = ""
    home: str = "/"
    shell: str = ""
    source: str = ""  # file:line, for messages


@attrs.frozen
class AddGroup:
    name: str
    gid: int


@attrs.frozen
class AddUser:
    name: str
    uid: int
    gid: int
    gecos: str
    home: str
    shell: str


@attrs.frozen
class AddMember:
    user: str
    group: str


Action = AddGroup | AddUser | AddMember


def _field(fields: list[str], index: int, default: str) -> str:
    value = fields[index] if len(fields) > index else "-"
    return default if value == "-" else value


def parse_line(line: str, source: str = "") -> Entry | None:
    """One sysusers.d line; None for blanks and comments; BuildError for what cannot be read."""
    try:
        return _parse_line(line, source)
    except BuildError as exc:
        prefix = f"{source}: "
        raise BuildError(str(exc) if str(exc).startswith(prefix) else prefix + str(exc)) from None


def _parse_line(line: str, source: str) -> Entry | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    try:
        fields = shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        raise BuildError(f"{source}: cannot parse sysusers.d line {text!r}: {exc}") from None
    kind = fields[0].rstrip("!")
    if kind not in ("u", "g", "m", "r") or len(fields) < 2:
        raise BuildError(f"{source}: unsupported sysusers.d line {text!r} (u, g, m, r)")
    name, ident = fields[1], _field(fields, 2, "-")
    if kind == "r":
        return Entry("r", "-", ident, source=source)
    validate.check_name(name, "user" if kind in ("u", "m") else "group")
    if kind == "m":
        validate.check_name(ident, "group")
        return Entry("m", name, ident, source=source)
    if kind == "g":
        return Entry("g", name, ident, source=source)
    gecos = _field(fields, 3, "")
    if any(c in gecos for c in ":\n"):
        raise BuildError(f"{source}: GECOS of user '{name}' must not contain ':'")
    home = validate.check_field(_field(fields, 4, "/"), "home directory")
    shell = validate.check_field(_field(fields, 5, NOLOGIN if ident != "0" else "/bin/sh"), "shell")
    return Entry("u", name, ident, gecos, home, shell, source)


def parse(text: str, source: str = "") -> list[Entry]:
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = parse_line(line, f"{source}:{number}")
        if entry is not None:
            entries.append(entry)
    return entries


def parse_login_defs(text: str) -> dict[str, tuple[int, int]]:
    """The system id ranges (uid, gid) from login.defs; systemd's fallback where not set."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("SYS_") and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    lo, hi = DEFAULT_RANGE
    return {
        "uid": (values.get("SYS_UID_MIN", lo), values.get("SYS_UID_MAX", hi)),
        "gid": (values.get("SYS_GID_MIN", lo), values.get("SYS_GID_MAX", hi)),
    }


def _db(text: str) -> dict[str, list[str]]:
    rows = (line.split(":") for line in text.splitlines() if line and not line.startswith("#"))
    return {f[0]: f for f in rows if len(f) >= 4 and f[2].isdigit()}


@attrs.define
class _State:
    """passwd and group as planned so far: names to ids, and the ids in use."""

    users: dict[str, tuple[int, int]]
    groups: dict[str, int]
    members: dict[str, set[str]]
    ranges: list[tuple[int, int]]
    defaults: dict[str, tuple[int, int]]
    actions: list[Action] = attrs.Factory(list)

    def free_uid(self, uid: int) -> bool:
        return uid not in {u for u, _ in self.users.values()}

    def free_gid(self, gid: int) -> bool:
        return gid not in self.groups.values()

    def allocate(self, what: str, usable: Callable[[int], bool]) -> int:
        """The highest free id, in the ``r`` ranges if any, else in the system range."""
        spans = self.ranges or [self.defaults[what]]
        for lo, hi in sorted(spans, key=lambda span: span[1], reverse=True):
            for candidate in range(hi, lo - 1, -1):
                if usable(candidate):
                    return candidate
        raise BuildError(f"no free system {what} left in {spans} for a sysusers.d entry")


Owner = Callable[[str], tuple[int, int] | None]


def _number(text: str, entry: Entry) -> int:
    try:
        return validate.check_id(int(text), "id")
    except ValueError:
        raise BuildError(f"{entry.source}: invalid id {text!r} for '{entry.name}'") from None


def _requested(entry: Entry, owner: Owner) -> tuple[int | None, str | None]:
    """(uid or gid asked for, the 'gid' part of uid:gid) from the ID field."""
    ident = entry.ident
    if ident == "-":
        return None, None
    if ident.startswith("/"):
        found = owner(ident)
        if found is None:
            return None, None  # systemd allocates when the file is not there
        return (found[0] if entry.kind == "u" else found[1]), (
            str(found[1]) if entry.kind == "u" else None
        )
    if entry.kind == "u" and ":" in ident:
        uid, gid = ident.split(":", 1)
        return (None if uid == "-" else _number(uid, entry)), gid
    return _number(ident, entry), None


def _add_group(state: _State, name: str, wanted: int | None) -> int:
    if name in state.groups:
        return state.groups[name]
    gid = wanted if wanted is not None and state.free_gid(wanted) else None
    if gid is None:
        gid = state.allocate("gid", state.free_gid)
    state.groups[name] = gid
    state.actions.append(AddGroup(name, gid))
    return gid


def _plan_user(state: _State, entry: Entry, owner: Owner) -> None:
    if entry.name in state.users:
        return
    uid, group = _requested(entry, owner)
    if group is not None and not group.isdigit():
        if group not in state.groups:
            raise BuildError(
                f"{entry.source}: group '{group}' of user '{entry.name}' does not exist"
            )
        gid = state.groups[group]
    elif group is not None:
        gid = int(group)
        if state.free_gid(gid):
            _add_group(state, entry.name, gid)
    else:
        gid = _add_group(state, entry.name, uid)
    if uid is None or not state.free_uid(uid):
        uid = gid if state.free_uid(gid) else state.allocate("uid", state.free_uid)
    state.users[entry.name] = (uid, gid)
    state.actions.append(AddUser(entry.name, uid, gid, entry.gecos, entry.home, entry.shell))


def _plan_member(state: _State, entry: Entry) -> None:
    if entry.name not in state.users or entry.ident not in state.groups:
        raise BuildError(
            f"{entry.source}: cannot add '{entry.name}' to '{entry.ident}': "
            "the user or the group does not exist"
        )
    if entry.name not in state.members.setdefault(entry.ident, set()):
        state.members[entry.ident].add(entry.name)
        state.actions.append(AddMember(entry.name, entry.ident))


def plan(
    entries: Sequence[Entry],
    passwd: str,
    group: str,
    login_defs: str = "",
    owner: Owner = lambda path: None,
) -> list[Action]:
    """What to add to passwd and group so every entry exists. Pure; existing entries win.

    Order as in systemd-sysusers: ranges, then groups, then users (each with its group, the
    same number for both when it is free), then memberships.
    """
    users = {n: (int(f[2]), int(f[3]) if f[3].isdigit() else 0) for n, f in _db(passwd).items()}
    groups_db = _db(group)
    state = _State(
        users=users,
        groups={n: int(f[2]) for n, f in groups_db.items()},
        members={n: set(filter(None, f[3].split(","))) for n, f in groups_db.items()},
        ranges=[],
        defaults=parse_login_defs(login_defs),
    )
    for entry in (e for e in entries if e.kind == "r"):
        lo, _, hi = entry.ident.partition("-")
        state.ranges.append((_number(lo, entry), _number(hi or lo, entry)))
    for entry in (e for e in entries if e.kind == "g"):
        _add_group(state, entry.name, _requested(entry, owner)[0])
    for entry in (e for e in entries if e.kind == "u"):
        _plan_user(state, entry, owner)
    for entry in (e for e in entries if e.kind == "m"):
        _plan_member(state, entry)
    return state.actions


def apply(root: RootFS, entries: Sequence[Entry]) -> list[Action]:
    """Create what ``entries`` declare in the image's /etc/passwd and /etc/group."""

    def owner(path: str) -> tuple[int, int] | None:
        st = root.lstat(path)
        return None if st is None else (st.st_uid, st.st_gid)

    actions = plan(
        entries,
        root.read_text("/etc/passwd"),
        root.read_text("/etc/group"),
        root.read_text("/etc/login.defs"),
        owner,
    )
    for action in actions:
        if isinstance(action, AddGroup):
            accounts.add_group(root, action.name, action.gid)
        elif isinstance(action, AddUser):
            accounts.add_user(
                root,
                action.name,
                action.uid,
                action.gid,
                action.home,
                action.shell,
                gecos=action.gecos,
            )
        else:
            accounts.add_member(root, action.user, action.group)
    return actions


def declared(root: RootFS) -> list[Entry]:
    """Every entry of the image's sysusers.d files, files in lexicographic order of name."""
    files: dict[str, str] = {}
    for directory in SYSUSERS_DIRS:
        st = root.lstat(directory)
        if st is None:
            continue
        for name in sorted(root.listdir(directory)):
            if name.endswith(".conf"):
                files[name] = f"{directory}/{name}"
    entries: list[Entry] = []
    for name in sorted(files):
        entries += parse(root.read_text(files[name]), files[name])
    return entries


def apply_declared(root: RootFS) -> list[Action]:
    return apply(root, declared(root))


def helper_command() -> str:
    """The ``%__systemd_sysusers`` value: this interpreter running this module.

    rpm runs it through /bin/sh on the host with dnf's environment, which has no PYTHONPATH,
    so the path to this package (and any the caller relies on) is given explicitly; '%' is
    doubled because rpm expands macros in the value.
    """
    here = str(Path(__file__).resolve().parents[2])
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != here]
    argv = [
        "/usr/bin/env",
        f"PYTHONPATH={os.pathsep.join([here, *extra])}",
        sys.executable,
        "-m",
        "buildahpy.build.sysusers",
    ]
    return shlex.join(argv).replace("%", "%%")


def main(argv: Sequence[str] | None = None, stdin: Iterable[str] | None = None) -> int:
    """What rpm runs as ``%__systemd_sysusers``: ``[--replace PATH] --root ROOT [-|LINE...]``."""
    parser = argparse.ArgumentParser(prog="buildahpy.build.sysusers")
    parser.add_argument("--replace", default="")
    parser.add_argument("--root", default="")
    parser.add_argument("lines", nargs="*")
    args = parser.parse_args(argv)
    # rpm gives --root for an --installroot transaction; there is no default, since rpm's
    # own would be the host, whose users this helper must never touch
    if not args.root or Path(args.root).resolve() == Path("/"):
        given = f"--root {args.root} is the host" if args.root else "no --root ROOT given"
        sys.stderr.write(
            f"buildahpy.build.sysusers: {given}; refusing to edit the host's users and groups\n"
        )
        return 2
    source = args.replace or "rpm"
    if args.lines in ([], ["-"]):
        text = "".join(stdin if stdin is not None else sys.stdin)
    else:
        text = "\n".join(args.lines)
    try:
        with RootFS(Path(args.root)) as root:
            apply(root, parse(text, source))
    except (BuildahpyError, OSError) as exc:
        sys.stderr.write(f"buildahpy.build.sysusers: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
