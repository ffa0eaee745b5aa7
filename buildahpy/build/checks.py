"""The build checks its own output before committing: would a container of this image start?

Four checks, in this order, over the mounted rootfs through the confined RootFS:

- user: the config's user (``name``, ``name:group``, ``uid[:gid]``) is in the image's
  /etc/passwd and /etc/group, or numeric;
- workdir: is a directory; a missing one is made (podman would make it at run time), owned by
  the user;
- entrypoint: the program the container runs is there and may be executed, down to the
  interpreter it needs (entrypoint.py);
- libraries: every ELF file's interpreter and DT_NEEDED libraries are where ld.so looks
  (linkage.py);
- os-release: /etc/os-release is there and names the target distribution and release
  (scanners tell the distribution, and so the advisories that apply, from it).

The config checked is the one the image will have: the recipe's, over its base image's. A recipe
skips a check with a reason (``@recipe(..., checks={"libraries": "..."})``). The first failure
stops the build with one line; one info line says which checks ran and which were skipped, why.
Host binaries: buildah, only to read a base image's config.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping

import attrs

from buildahpy.api.config import ImageConfig
from buildahpy.api.recipe import CHECKS
from buildahpy.build import linkage
from buildahpy.build.context import Context
from buildahpy.build.entrypoint import DEFAULT_PATH, ROOT, Account, Start, Unfit
from buildahpy.build.entrypoint import check as check_program
from buildahpy.errors import BuildahpyError, BuildError
from buildahpy.host import buildah
from buildahpy.host.rootfs import RootFS
from buildahpy.log import get_logger, step
from buildahpy.plan.distro import Target, parse_os_release


@attrs.frozen
class Runtime:
    """What a container of the image starts with."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    user: str = ""
    workdir: str = ""

    def getenv(self, name: str, default: str = "") -> str:
        return dict(self.env).get(name, default)


def runtime(config: ImageConfig, base: Mapping[str, object] | None = None) -> Runtime:
    """The recipe's config over the base image's, as ``buildah config`` applies it (setting an
    entrypoint keeps the base's command: buildah 1.28 warns and passes it as arguments)."""
    base = base or {}

    def listed(key: str) -> tuple[str, ...]:
        value = base.get(key)
        return tuple(str(item) for item in value) if isinstance(value, list) else ()

    env = dict(item.split("=", 1) for item in listed("Env") if "=" in item) | dict(config.env)
    env = {key: value for key, value in env.items() if key not in config.env_removed}
    return Runtime(
        # an empty list is the recipe clearing the base's
        entrypoint=listed("Entrypoint") if config.entrypoint is None else config.entrypoint,
        cmd=listed("Cmd") if config.cmd is None else config.cmd,
        env=tuple(sorted(env.items())),
        user=config.user or str(base.get("User") or ""),
        workdir=config.workdir or str(base.get("WorkingDir") or ""),
    )


def check_image(ctx: Context) -> None:
    """Run the checks on the mounted image; a failure is a BuildError naming the check."""
    config = ctx.image.config_value
    with step("check"):
        scratch = ctx.plan.base_image == "scratch"
        base = {} if scratch else buildah.container_config(ctx.container)
        start, skip = runtime(config, base), dict(ctx.plan.skip_checks)
        outcomes = run_checks(ctx.rootfs, start, skip, ctx.plan.target)
    ran = [name for name, outcome in outcomes.items() if not outcome.startswith("skipped")]
    skipped = [name for name in outcomes if name not in ran]
    get_logger().info(
        "checks",
        recipe=ctx.recipe.name,
        ran=", ".join(ran) or "none",
        skipped=", ".join(skipped) or "none",
        **outcomes,
        _text=checks_line(ran, {name: outcomes[name] for name in skipped}),
    )


def checks_line(ran: list[str], skipped: Mapping[str, str]) -> str:
    """The console's line: what ran, what was skipped (with the recipe's reason, if it gave
    one); the log event has every outcome in full."""
    by_recipe = "skipped by the recipe: "
    said = [
        f"{name} ({why.removeprefix(by_recipe)})" if why.startswith(by_recipe) else name
        for name, why in skipped.items()
    ]
    line = f"{'checks':<12}  ran {', '.join(ran) or 'none'}"
    return line + (f"; skipped {', '.join(said)}" if said else "")


def run_checks(
    root: RootFS, start: Runtime, skip: Mapping[str, str], target: Target | None = None
) -> dict[str, str]:
    """Each check's outcome (``ok: ...``, ``created ...``, ``skipped...``), in CHECKS order."""
    try:
        account: Account | Exception = find_account(root, start.user) if start.user else ROOT
    except (Unfit, OSError) as exc:  # the user check says so, unless the recipe skips it
        account = exc
    known = account if isinstance(account, Account) else None
    checks: dict[str, Callable[[], str]] = {
        "user": lambda: check_user(start, account),
        "workdir": lambda: check_workdir(root, start, known),
        "entrypoint": lambda: check_entrypoint(root, start, known or ROOT),
        "libraries": lambda: check_libraries(root, start),
        "os-release": lambda: check_os_release(root, target),
    }
    outcomes: dict[str, str] = {}
    for name in CHECKS:
        if name in skip:
            outcomes[name] = f"skipped by the recipe: {skip[name]}"
            continue
        try:
            outcomes[name] = checks[name]()
        except (Unfit, BuildahpyError, OSError) as exc:
            raise BuildError(f"check {name}: {exc}") from None
    return outcomes


def check_user(start: Runtime, account: Account | Exception) -> str:
    if not start.user:
        return "skipped: no user set"
    if not isinstance(account, Account):
        raise account
    return f"ok: {start.user} (uid {account.uid}, gid {account.gid})"


def find_account(root: RootFS, spec: str) -> Account:
    """The ids ``user[:group]`` stands for in the image; Unfit when a name is not there."""
    user, _, group = spec.partition(":")
    passwd, groups = _entries(root, "/etc/passwd"), _entries(root, "/etc/group")
    key = 2 if user.isdigit() else 0
    entry = next((f for f in passwd or [] if len(f) >= 4 and f[key] == user), None)
    if entry is None and not user.isdigit():
        raise Unfit(f"user '{user}' is not in the image's {_where(passwd, '/etc/passwd')}")
    uid, gid = (int(user), 0) if entry is None else (_id(entry, 2), _id(entry, 3))
    if group.isdigit():
        gid = int(group)
    elif group:
        found = next((f for f in groups or [] if len(f) >= 3 and f[0] == group), None)
        if found is None:
            raise Unfit(f"group '{group}' is not in the image's {_where(groups, '/etc/group')}")
        gid = _id(found, 2)
    login = entry[0] if entry else ""
    members = (f for f in groups or [] if len(f) >= 4 and login in f[3].split(","))
    return Account(uid, gid, frozenset(_id(f, 2) for f in members) if login else frozenset())


def _entries(root: RootFS, path: str) -> list[list[str]] | None:
    fd = root.open_regular(path)
    if fd is None:
        return None
    try:
        text = os.pread(fd, 1 << 24, 0).decode("utf-8", "replace")
    finally:
        os.close(fd)
    return [line.split(":") for line in text.splitlines() if line and line[0] != "#"]


def _where(entries: list[list[str]] | None, path: str) -> str:
    return path if entries is not None else f"{path} (the image has none)"


def _id(fields: list[str], index: int) -> int:
    if not fields[index].isdigit():
        raise Unfit(f"'{fields[0]}' has no numeric id in the image: {':'.join(fields)}")
    return int(fields[index])


def check_workdir(root: RootFS, start: Runtime, account: Account | None) -> str:
    if not start.workdir:
        return "skipped: no workdir set"
    found = root.stat(start.workdir)
    if found is not None:
        if not stat.S_ISDIR(found.st_mode):
            raise Unfit(f"{start.workdir} is in the image but is not a directory")
        return f"ok: {start.workdir}"
    try:
        root.mkdir(start.workdir)
        if account is not None and (account.uid, account.gid) != (0, 0):
            root.chown(start.workdir, account.uid, account.gid)
    except OSError as exc:
        raise Unfit(f"{start.workdir} is not in the image and cannot be made: {exc}") from None
    owner = f"{account.uid}:{account.gid}" if account else "0:0"
    return f"created {start.workdir} (owner {owner})"


def check_entrypoint(root: RootFS, start: Runtime, account: Account) -> str:
    argv = start.entrypoint or start.cmd
    if not argv:
        return "skipped: no entrypoint"
    path = start.getenv("PATH", DEFAULT_PATH)
    return "ok: " + check_program(root, Start(argv, path, start.workdir or "/", account))


def check_libraries(root: RootFS, start: Runtime) -> str:
    found = linkage.check_tree(root, start.getenv("LD_LIBRARY_PATH"))
    if found.missing:
        first, rest = found.missing[0], found.missing[1:]
        more = "; ".join(f"{m.file} needs {m.library}" for m in rest[:3])
        tail = f"; {len(rest)} more: {more}{', ...' if len(rest) > 3 else ''}" if rest else ""
        raise Unfit(f"{first}{tail}")
    private = len(found.loaded_first)
    note = f"; {private} only elsewhere in the image, for the program that loads them"
    return (
        f"ok: {found.needing} ELF files need libraries, all found "
        f"({found.elves} ELF files in {found.files} files{note if private else ''})"
    )


OS_RELEASE = "/etc/os-release"


def check_os_release(root: RootFS, target: Target | None) -> str:
    if target is None:
        return "skipped: no target"
    fd = root.open_regular(OS_RELEASE)  # a link (to ../usr/lib/os-release) resolves in the image
    if fd is None:
        raise Unfit(
            f"the image has no {OS_RELEASE} (install {target.release_package}, "
            "or skip the check with a reason)"
        )
    try:
        found = parse_os_release(os.pread(fd, 1 << 16, 0).decode("utf-8", "replace"))
    finally:
        os.close(fd)
    if not target.names_release(found):
        raise Unfit(
            f"{OS_RELEASE} names {found.id} {found.version_id or '(no VERSION_ID)'}, "
            f"not the target {target.family} {target.releasever}"
        )
    return f"ok: {found.id} {found.version_id}"
