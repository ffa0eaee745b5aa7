"""Leftovers of killed builds: the lock that tells a live build from a dead one, and ``--gc``."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, Builder
from proc_helpers import running, session_alive, start_build, storage_mounts, wait_for

from buildahpy.errors import BuildError
from buildahpy.privilege import gc

SLOW = """\
from buildahpy import recipe

@recipe('localhost/{name}')
def {name}(image):
    image.install('bash', 'coreutils-single')
    image.run(['/usr/bin/sleep', '120'])
"""


FAKE_BUILDAH = """\
#!{python}
import json, sys
if sys.argv[1:2] == ["info"]:
    print(json.dumps({{"store": {{"GraphRoot": {graph!r}, "RunRoot": {run!r}}}}}))
elif sys.argv[1:2] in (["containers"], ["images"]):
    print("[]")  # no container or image of anybody's
else:
    sys.exit(f"unexpected buildah call: {{sys.argv}}")
"""


def build_caches(builder: Builder, name: str) -> list[Path]:
    """The private dnf cachedir of build ``name`` in the shared cache (cache.py), if any."""
    return list(Path(builder.env["BUILDAHPY_CACHE_DIR"]).glob(f"*/work/{name}"))


@pytest.fixture
def storage_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``buildah`` first on PATH whose storage has its graphroot and runroot under tmp_path
    and holds nothing, so lock tests never touch the host's storage. Returns the graphroot."""
    graph, run = tmp_path / "graph", tmp_path / "run"
    graph.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "buildah"
    fake.write_text(FAKE_BUILDAH.format(python=sys.executable, graph=str(graph), run=str(run)))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    gc._graph_root.cache_clear()
    yield graph
    gc._graph_root.cache_clear()


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


def test_locks_live_in_the_graphroot_the_storage_reports(storage_root: Path) -> None:
    # not in /run nor the runroot: builders in other containers share only the graphroot
    assert gc.lock_path(fresh_name()).parent == storage_root / "buildahpy-locks"


def test_claim_holds_a_lock_others_cannot_take_and_removes_it(storage_root: Path) -> None:
    name = fresh_name()
    path = gc.lock_path(name)
    with gc.claim(name):
        assert path.read_text() == f"{os.getpid()}\n"
        assert gc.try_lock(path) is None  # another open file description: refused
        with pytest.raises(BuildError, match="already claimed"), gc.claim(name):
            pass
    assert not path.exists()
    st = os.lstat(gc.lock_dir())
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


def test_gc_removes_free_lock_files_of_builds_that_left_no_container(storage_root: Path) -> None:
    stale, live = fresh_name(), fresh_name()
    directory = gc.lock_dir()
    (directory / f"{stale}.lock").write_text("4242\n")  # a build killed before `buildah from`
    (directory / "notes.txt").write_text("not ours\n")
    with gc.claim(live):
        result = gc.collect()
        assert (directory / f"{live}.lock").exists()
    assert not (directory / f"{stale}.lock").exists()
    assert (directory / "notes.txt").exists()
    assert (result.removed, result.images, result.in_use) == ((), (), ())


def test_gc_removes_the_dnf_cachedirs_of_gone_builds_only(
    storage_root: Path, tmp_path: Path
) -> None:
    cache_root = tmp_path / "cache"
    dead, live = fresh_name(), fresh_name()
    for name in (dead, live, "not-ours"):
        (cache_root / "dnf4" / "work" / name / "fixture-1" / "packages").mkdir(parents=True)
    with gc.claim(live):
        assert gc.collect_build_caches(cache_root) == [dead]
        assert (cache_root / "dnf4" / "work" / live).is_dir()
    assert not (cache_root / "dnf4" / "work" / dead).exists()
    assert (cache_root / "dnf4" / "work" / "not-ours").is_dir()
    assert not gc.lock_path(dead).exists()


def test_the_lock_dies_with_its_holder_even_on_sigkill(storage_root: Path) -> None:
    name = fresh_name()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom buildahpy.privilege import gc\n"
            f"with gc.claim({name!r}):\n    print('held', flush=True)\n    time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert gc.try_lock(gc.lock_path(name)) is None
        assert gc.holder(gc.lock_path(name)) == str(holder.pid)
    finally:
        holder.kill()
        holder.wait()
    fd = gc.try_lock(gc.lock_path(name))  # the file is still there, its lock is not
    assert fd is not None
    gc.release_lock(gc.lock_path(name), fd)


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
        assert "1 leftover container and 0 pending images removed, 1 in use" in result.stdout
        assert f"removed the dnf cache of {leftover}\n" in result.stdout
        assert not build_caches(builder, leftover)
        assert build_caches(builder, alive)
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
    assert build_caches(builder, leftover)  # SIGKILL: the build's own cleanup never ran
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
    assert not build_caches(builder, leftover)
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
    assert "20 leftover containers and 0 pending images removed, 0 in use" in result.stdout, (
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
    assert "2 leftover containers and 2 pending images removed, 0 in use" in result.stdout
    assert builder.image_id("localhost/kept:latest") == kept_id
    assert builder.containers() == []
    builder.tool("buildah", "rmi", "localhost/kept:latest")


def own_container(env: dict[str, str], runroot: Path, *argv: str) -> subprocess.Popen[str]:
    """buildahpy as a builder in a container of its own would run it: over the same graphroot,
    with its own runroot, in its own mount namespace with a private /run."""
    conf = runroot.parent / f"{runroot.name}.conf"
    shared = Path(env["CONTAINERS_STORAGE_CONF"]).read_text()
    conf.write_text(
        "\n".join(
            f'runroot = "{runroot}"' if line.startswith("runroot") else line
            for line in shared.splitlines()
        )
        + "\n"
    )
    mount_run = 'mount -t tmpfs -o mode=0755 private-run /run && exec "$@"'
    return subprocess.Popen(
        [
            *("unshare", "--mount", "--propagation=private", "--", "sh", "-c", mount_run, "sh"),
            *(sys.executable, "-m", "buildahpy", *argv),
        ],
        env=dict(env, CONTAINERS_STORAGE_CONF=str(conf)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.integration
def test_builders_in_two_containers_sharing_one_storage_never_reap_each_other(
    builder: Builder,
) -> None:
    repo = ["--repo-file", str(builder.repo_file), "--releasever", "40"]
    slow = builder.recipe("alive.py", SLOW.format(name="alive"))
    live = own_container(builder.env, builder.tmp_path / "run-a", str(slow), *repo)
    try:
        wait_for(lambda: running(live.pid, "/usr/bin/sleep"))
        (alive,) = our_containers(builder, "alive")

        gc_run = own_container(builder.env, builder.tmp_path / "run-b", "--gc")
        stdout, stderr = gc_run.communicate(timeout=60)
        assert gc_run.returncode == 0, stderr
        assert f"kept {alive} (its build, pid {live.pid}, is still running)\n" in stdout
        assert "0 leftover containers and 0 pending images removed, 1 in use" in stdout

        quick = builder.recipe(
            "quick.py",
            "from buildahpy import recipe\n\n@recipe('localhost/quick')\n"
            "def quick(image):\n    image.install('busybox')\n",
        )
        other = own_container(builder.env, builder.tmp_path / "run-c", str(quick), *repo)
        _, stderr = other.communicate(timeout=300)
        assert other.returncode == 0, stderr
        assert "removed leftover container" not in stderr
        assert alive in builder.containers()
        assert builder.image_id("localhost/quick:latest")

        live.send_signal(signal.SIGTERM)  # the live build was never disturbed: it ends cleanly
        _, stderr = live.communicate(timeout=120)
        assert live.returncode == 143, stderr
        assert alive not in builder.containers()
    finally:
        if live.poll() is None:
            os.killpg(live.pid, signal.SIGKILL)
            live.wait()
