"""Leftovers of killed builds: the lock that tells a live build from a dead one, and ``--gc``."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest
from conftest import Builder
from proc_helpers import running, session_alive, start_build, storage_mounts, wait_for

from buildahpy import gc
from buildahpy.errors import BuildError

SLOW = """\
from buildahpy import recipe

@recipe('localhost/{name}')
def {name}(image):
    image.install('bash', 'coreutils-single')
    image.run(['/usr/bin/sleep', '120'])
"""


def fresh_name() -> str:
    return f"buildahpy-unit-{os.urandom(6).hex()}-{os.urandom(3).hex()}"


def test_names_we_make_and_only_those_are_ours() -> None:
    assert gc.NAME_RE.match("buildahpy-bash-base-0123456789ab-abcdef")
    for foreign in (
        "other",
        "buildahpy-mine",
        "buildahpy-x-0123456789ab-abcdef-extra",
        "buildahpy-x-0123456789AB-abcdef",
        "buildahpy--0123456789ab-abcdef",
        "buildahpy-../../etc-0123456789ab-abcdef",
    ):
        assert not gc.NAME_RE.match(foreign), foreign
    with pytest.raises(BuildError, match="not a buildahpy working container name"):
        gc.lock_path("buildahpy-../x-0123456789ab-abcdef")


def test_claim_holds_a_lock_others_cannot_take_and_removes_it() -> None:
    name = fresh_name()
    path = gc.lock_path(name)
    with gc.claim(name):
        assert path.read_text() == f"{os.getpid()}\n"
        assert gc._try_lock(path) is None  # another open file description: refused
        with pytest.raises(BuildError, match="already claimed"), gc.claim(name):
            pass
    assert not path.exists()
    st = os.lstat(gc.runtime_dir())
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


def test_the_lock_dies_with_its_holder_even_on_sigkill() -> None:
    name = fresh_name()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom buildahpy import gc\n"
            f"with gc.claim({name!r}):\n    print('held', flush=True)\n    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert gc._try_lock(gc.lock_path(name)) is None
        assert gc.holder(gc.lock_path(name)) == str(holder.pid)
    finally:
        holder.kill()
        holder.wait()
    fd = gc._try_lock(gc.lock_path(name))  # the file is still there, its lock is not
    assert fd is not None
    gc._release(gc.lock_path(name), fd)


def our_containers(builder: Builder, recipe: str) -> list[str]:
    return [c for c in builder.containers() if c.startswith(f"buildahpy-{recipe}-")]


def mountpoint(builder: Builder, name: str) -> str:
    return builder.tool("buildah", "mount", name).strip()


def kill_during_dnf(builder: Builder, recipe: str) -> tuple[str, str]:
    """Start a build, SIGKILL the whole job while dnf runs; return the container and its mount."""
    path = builder.recipe(f"{recipe}.py", SLOW.format(name=recipe))
    proc = start_build(builder, path)
    try:
        wait_for(lambda: running(proc.pid, "--installroot"))
        (name,) = our_containers(builder, recipe)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    wait_for(lambda: not session_alive(proc.pid), timeout=10)
    # `buildah mount` on a mounted container prints the same mountpoint and counts one more mount;
    # read it from buildah's list instead so the count is not changed
    mounts = dict(
        line.split(" ", 1) for line in builder.tool("buildah", "mount").splitlines() if line
    )
    return name, mounts[name].strip()


@pytest.mark.integration
def test_gc_removes_a_killed_builds_container_and_nothing_else(builder: Builder) -> None:
    foreign = ["other", "buildahpy-mine"]
    for name in foreign:
        builder.tool("buildah", "from", "--name", name, "scratch")
    live = None
    try:
        # the live build first: a build reaps leftovers when it starts
        live = start_build(builder, builder.recipe("alive.py", SLOW.format(name="alive")))
        wait_for(lambda: running(live.pid, "/usr/bin/sleep"))
        (alive,) = our_containers(builder, "alive")
        leftover, leftover_mount = kill_during_dnf(builder, "killed")
        assert leftover_mount in storage_mounts(builder.env)

        started = time.monotonic()
        result = builder.cli("--gc", repo=False, releasever=None)
        seconds = time.monotonic() - started

        assert result.returncode == 0, result.stderr
        assert f"removed {leftover} (was mounted at {leftover_mount})\n" in result.stdout
        assert f"kept {alive} (its build, pid {live.pid}, is still running)\n" in result.stdout
        assert "1 leftover container(s) and 0 pending image(s) removed, 1 in use" in result.stdout
        remaining = builder.containers()
        assert leftover not in remaining
        assert {alive, *foreign} <= set(remaining)
        assert leftover_mount not in storage_mounts(builder.env)
        assert seconds < 10, seconds

        live.send_signal(signal.SIGTERM)  # the live build still ends cleanly
        _, stderr = live.communicate(timeout=120)
        assert live.returncode == 143, stderr
        assert alive not in builder.containers()
    finally:
        if live is not None and live.poll() is None:
            os.killpg(live.pid, signal.SIGKILL)
        builder.tool("buildah", "rm", *foreign)


@pytest.mark.integration
def test_the_next_build_removes_leftovers_before_it_starts(builder: Builder) -> None:
    leftover, leftover_mount = kill_during_dnf(builder, "killed")
    quick = builder.recipe(
        "quick.py",
        "from buildahpy import recipe\n\n@recipe('localhost/quick')\n"
        "def quick(image):\n    image.install('busybox')\n",
    )
    result = builder.cli(quick)
    assert result.returncode == 0, result.stderr
    assert "removed leftover container" in result.stderr and leftover in result.stderr
    assert builder.containers() == []
    assert leftover_mount not in storage_mounts(builder.env)
    assert builder.image_id("localhost/quick:latest")


@pytest.mark.integration
def test_gc_with_many_leftovers(builder: Builder) -> None:
    names = [f"buildahpy-many-{os.urandom(6).hex()}-{os.urandom(3).hex()}" for _ in range(20)]
    for index, name in enumerate(names):
        builder.tool("buildah", "from", "--name", name, "scratch")
        if index % 2:
            builder.tool("buildah", "mount", name)
    result = builder.cli("--gc", repo=False, releasever=None)
    assert result.returncode == 0, result.stderr
    assert "20 leftover container(s) and 0 pending image(s) removed, 0 in use" in result.stdout, (
        result.stdout
    )
    assert result.stdout.count("was mounted at") == 10
    assert builder.containers() == []


def test_gc_takes_no_recipe_files() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "buildahpy", "--gc", "recipes/nginx.py"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--gc takes no recipe files" in result.stderr


@pytest.mark.integration
def test_gc_removes_pending_images_and_keeps_a_tag_that_made_it(builder: Builder) -> None:
    # what a build killed during commit leaves (its container and its pending image), and one
    # killed after `buildah tag` but before its pending name was dropped
    untagged, tagged = fresh_name(), fresh_name()
    for name in (untagged, tagged):
        builder.tool("buildah", "from", "--name", name, "scratch")
        builder.tool("buildah", "commit", "--quiet", name, f"localhost/{name}:pending")
    builder.tool("buildah", "tag", f"localhost/{tagged}:pending", "localhost/kept:latest")
    kept_id = builder.image_id("localhost/kept:latest")

    result = builder.cli("--gc", repo=False, releasever=None)

    assert result.returncode == 0, result.stderr
    for name in (untagged, tagged):
        assert f"removed {name}\n" in result.stdout
        assert f"removed image name localhost/{name}:pending\n" in result.stdout
        assert builder.image_id(f"localhost/{name}:pending") is None
    assert "2 leftover container(s) and 2 pending image(s) removed, 0 in use" in result.stdout
    assert builder.image_id("localhost/kept:latest") == kept_id
    assert builder.containers() == []
    builder.tool("buildah", "rmi", "localhost/kept:latest")
