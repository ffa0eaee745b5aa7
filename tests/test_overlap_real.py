"""Two fleet runs at once on one containers-storage and one shared cache: a tag one run is
building is waited for by the other (which says so, and then finds it up to date), a base image
another run builds is waited for instead of pulled, a waiter takes over from a run killed under
it, and ``buildahpy gc`` during a run leaves the run's work alone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Builder
from tests.proc_helpers import start_build

pytestmark = pytest.mark.integration

SLOW = """\
import time

from buildahpy import recipe

@recipe("localhost/overlap/base")
def base(image):
    image.install("busybox")
    if image.rootfs.is_dir():  # the real build (holding the tag), not its inputs' recording
        time.sleep({seconds})

@recipe("localhost/overlap/app", base=base)
def app(image):
    image.install("zlib")
"""

OTHER = """\
from buildahpy import recipe

@recipe("localhost/overlap/tool", base="localhost/overlap/base")
def tool(image):
    image.install("libacl")
"""


def lock_dir(builder: Builder) -> Path:
    return Path(builder.env["CONTAINERS_STORAGE_CONF"]).parent / "graph" / "buildahpy-locks"


def wait_until_building(builder: Builder, proc: subprocess.Popen[str], tag: str) -> None:
    """Until ``proc`` holds the lock of ``tag`` (its lock file names it), at most 60 s."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in lock_dir(builder).glob("tag-*.lock"):
            fields = path.read_text().split()
            if fields[:1] == [str(proc.pid)] and fields[2:] == [tag]:
                return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    pytest.fail(f"{tag} was never claimed by pid {proc.pid}")


def kill_session(sid: int) -> None:
    """SIGKILL every process of the run's session (buildah's and dnf's too), until none is
    left (at most 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
        if not found:
            return
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def forget(builder: Builder, *tags: str) -> None:
    """Start without these images (the storage is shared by the session's tests)."""
    for tag in tags:
        subprocess.run(["buildah", "rmi", "--force", tag], env=builder.env, capture_output=True)


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def statuses(table: str) -> dict[str, str]:
    """recipe -> status, from the table on stdout (its rows end at the total line)."""
    found = {}
    for line in table.splitlines()[1:]:
        if line.startswith("total:"):
            break
        recipe, _tag, status, *_rest = line.split()
        found[recipe] = status
    return found


def test_the_same_file_twice_builds_each_tag_once(builder: Builder) -> None:
    recipes = builder.recipe("slow.py", SLOW.format(seconds=3))
    first = start_build(builder, recipes, "--jobs", "2")
    wait_until_building(builder, first, "localhost/overlap/base:latest")
    second = start_build(builder, recipes, "--jobs", "2")
    code1, out1, err1 = finish(first)
    code2, out2, err2 = finish(second)
    assert (code1, code2) == (0, 0), err1[-2000:] + err2[-2000:]
    assert "waiting for localhost/overlap/base:latest: being built by pid" in err2
    assert f"by pid {first.pid} since " in err2
    assert statuses(out1) == {"base": "built", "app": "built"}
    assert statuses(out2) == {"base": "up-to-date", "app": "up-to-date"}, out2
    assert builder.containers() == []


def test_a_base_image_another_run_builds_is_waited_for(builder: Builder) -> None:
    slow = builder.recipe("slow.py", SLOW.format(seconds=3))
    other = builder.recipe("other.py", OTHER)
    forget(builder, *(f"localhost/overlap/{name}" for name in ("app", "tool", "base")))
    first = start_build(builder, slow, "--jobs", "2")
    wait_until_building(builder, first, "localhost/overlap/base:latest")
    second = start_build(builder, other, "--report", builder.tmp_path / "other.json")
    code1, _out1, err1 = finish(first)
    code2, out2, err2 = finish(second)
    assert (code1, code2) == (0, 0), err1[-2000:] + err2[-2000:]
    assert "tool  waiting for localhost/overlap/base:latest: being built by pid" in err2
    assert statuses(out2) == {"tool": "built"}
    base_id = builder.image_id("localhost/overlap/base")
    report = json.loads((builder.tmp_path / "other.json").read_text())
    # tool starts from the image the first run built, which is the one under the base's tag
    assert base_id is not None
    layers = builder.inspect("localhost/overlap/tool")["OCIv1"]["rootfs"]["diff_ids"]
    base_layers = builder.inspect("localhost/overlap/base")["OCIv1"]["rootfs"]["diff_ids"]
    assert layers[: len(base_layers)] == base_layers
    assert report["images"][0]["status"] == "built"


def test_a_waiter_takes_over_from_a_killed_run(builder: Builder) -> None:
    recipes = builder.recipe("slow.py", SLOW.format(seconds=60))
    first = start_build(builder, recipes, "--only", "base", "--rebuild")
    wait_until_building(builder, first, "localhost/overlap/base:latest")
    fast = builder.recipe("fast.py", SLOW.format(seconds=0))  # the same tag, another file
    second = start_build(builder, fast, "--only", "base")
    time.sleep(1.5)  # the second run is waiting now
    kill_session(first.pid)
    first.communicate(timeout=30)
    started = time.monotonic()
    code, out, err = finish(second, timeout=120)
    assert code == 0, err[-2000:]
    assert "waiting for localhost/overlap/base:latest" in err
    assert statuses(out) == {"base": "built"}
    assert time.monotonic() - started < 60  # took over at once, not after the 60 s sleep
    gc = builder.cli("gc", repo=False, releasever=None)
    assert gc.returncode == 0, gc.stderr
    assert "1 leftover container" in gc.stdout  # the killed run's, once its lock was free


def test_gc_while_a_run_builds_keeps_its_work(builder: Builder) -> None:
    recipes = builder.recipe("slow.py", SLOW.format(seconds=4))
    run = start_build(builder, recipes, "--jobs", "2", "--rebuild")
    wait_until_building(builder, run, "localhost/overlap/base:latest")
    deadline = time.monotonic() + 60
    while not builder.containers() and time.monotonic() < deadline:
        time.sleep(0.1)
    gc = builder.cli("gc", repo=False, releasever=None)
    assert gc.returncode == 0, gc.stderr
    assert "in use" in gc.stdout and "kept buildahpy-base-" in gc.stdout, gc.stdout
    assert "a build is running" in gc.stdout
    code, out, err = finish(run)
    assert code == 0, err[-2000:]
    assert statuses(out) == {"base": "built", "app": "built"}
