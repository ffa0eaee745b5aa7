"""Users and groups that packages declare in sysusers.d(5) files, created in the image.

rpm >= 4.19 creates them itself before a package's files are unpacked, by running
``%__systemd_sysusers [--replace PATH] [--root ROOT] -`` on the HOST, outside the chroot, with the
package's sysusers.d lines on stdin (lib/psm.c, runSysusers). Rootless that host tool fails
(buildah issues 6119 and 6212), so buildahpy points the macro at this module instead
(``python -m buildahpy.build.sysusers``); on an older rpm, which ignores sysusers.d, the same
applier runs over the image's sysusers.d files after each transaction. Either way the entries go
through ``accounts`` and the confined RootFS, so a line can never write outside the image.

Starts no process. The lines are parsed and the ids decided in ``plan.sysusers``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from buildahpy.build import accounts
from buildahpy.errors import BuildahpyError
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.sysusers import Action, AddGroup, AddUser, Entry, parse, plan

SYSUSERS_DIRS = (
    "/usr/lib/sysusers.d",
    "/usr/local/lib/sysusers.d",
    "/run/sysusers.d",
    "/etc/sysusers.d",
)  # later directories override a file of the same name


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
