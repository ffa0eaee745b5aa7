"""Watching a real build from the outside: its child processes, its storage's mounts, a host tree.

Used by the tests that interrupt or kill builds and by the confinement tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT, Builder


def wait_for(predicate: Callable[[], object], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every process below ``pid`` (children, grandchildren ...)."""
    parents: dict[int, int] = {}
    cmdlines: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        cmdlines[int(entry.name)] = cmdline
    found: dict[int, str] = {}
    frontier = {pid}
    while frontier:
        children = {c for c, p in parents.items() if p in frontier and c not in found}
        found.update((child, cmdlines[child]) for child in children)
        frontier = children
    return found


def running(pid: int, needle: str) -> bool:
    return any(needle in cmdline for cmdline in descendants(pid).values())


def session_alive(sid: int) -> bool:
    """Whether any process of session ``sid`` (a job started by ``start_build``) still runs."""
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            return True
    return False


def start_build(builder: Builder, *args: str | Path) -> subprocess.Popen[str]:
    """The CLI in the background, in its own session so a test can kill the whole job."""
    argv = [sys.executable, "-m", "buildahpy", *map(str, args)]
    argv += ["--repo-file", str(builder.repo_file), "--releasever", "40"]
    return subprocess.Popen(
        argv,
        env=builder.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def graphroot(env: dict[str, str]) -> str:
    for line in Path(env["CONTAINERS_STORAGE_CONF"]).read_text().splitlines():
        if line.startswith("graphroot"):
            return line.split("=", 1)[1].strip().strip('"')
    raise AssertionError("no graphroot in the test storage.conf")


def storage_mounts(env: dict[str, str]) -> list[str]:
    """Mount points under this test storage only (other test runs may share the host)."""
    root = graphroot(env) + "/"
    with open("/proc/mounts") as handle:
        return sorted(line.split()[1] for line in handle if line.split()[1].startswith(root))


def images(builder: Builder) -> list[str]:
    return sorted(builder.tool("buildah", "images", "--all", "--quiet", "--no-trunc").split())


def snapshot(path: Path) -> dict[str, tuple[object, ...]]:
    """Every entry below ``path``: type, mode, size, mtime, content or link target."""
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [".", *dirnames, *filenames]:
            full = Path(dirpath, name)
            st = full.lstat()
            if full.is_symlink():
                body: object = os.readlink(full)
            elif full.is_file():
                body = full.read_bytes()
            else:
                body = "dir"
            key = str(full.relative_to(path)) if name != "." else dirpath
            state[key] = (st.st_mode, st.st_size, st.st_mtime_ns, body)
    return state
