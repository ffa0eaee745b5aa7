"""sysusers.d(5) lines, and what they ask for: which users, groups and memberships to add to
an image whose /etc/passwd, /etc/group and login.defs read as given.

Pure: parses text and decides; ``build.sysusers`` reads the image and applies the decisions.
Supported: ``u`` (and ``u!``), ``g``, ``m`` and ``r`` lines; ids ``-``, a number, ``uid:gid``
(gid a number or a group name) or the path of a file whose owner gives them.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence

import attrs

from buildahpy.api import validate
from buildahpy.errors import BuildError

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
