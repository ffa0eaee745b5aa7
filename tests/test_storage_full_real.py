"""A containers storage that runs out of space: its graphroot on a small ext4 filesystem of its
own (a loop-mounted image), and an install, a recipe write and a commit that do not fit. Each
ends in one line saying that no space is left in the containers storage, with its path and its
free space; no image is left under any name, the previous image keeps the tag, and the next
build on the same storage works once the space is back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from conftest import Builder, overlay_mounts, unavailable

pytestmark = pytest.mark.integration

SIZE = 64 << 20  # the filesystem: the small image and two failed ones fit, the big install not
TAG = "localhost/full/a"
SMALL = f"""
from buildahpy import recipe

@recipe("{TAG}")
def a(image):
    image.install("busybox")
    image.write_file("/small", "a\\n")
"""


def big_write(size: int) -> str:
    return f"""
from buildahpy import recipe

@recipe("{TAG}")
def a(image):
    image.install("busybox")
    image.write_file("/big", b"x" * {size})
"""


BIG_INSTALL = f"""
from buildahpy import recipe

@recipe("{TAG}")
def a(image):
    image.install("glibc-all-langpacks")
"""


def sh(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        [str(a) for a in argv], env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def small_storage(
    tmp_path_factory: pytest.TempPathFactory, real_tools: None
) -> Iterator[dict[str, str]]:
    """A private containers-storage whose graphroot is an ext4 filesystem of SIZE bytes;
    the loop device and every mount are gone afterwards, also when a test failed."""
    for tool in ("mkfs.ext4", "losetup"):
        if shutil.which(tool) is None:
            unavailable(f"missing tool: {tool}")
    base = tmp_path_factory.mktemp("small-storage")
    image, graph = base / "graph.img", base / "graph"
    with open(image, "wb") as handle:
        handle.truncate(SIZE)
    sh("mkfs.ext4", "-q", "-F", "-m", "0", image)  # -m 0: root's free space is everyone's
    device = sh("losetup", "--find", "--show", image).strip()
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(base / "storage.conf"))
    env["BUILDAHPY_CACHE_DIR"] = str(base / "cache")
    try:
        graph.mkdir()
        sh("mount", device, graph)
        (base / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{graph}"\nrunroot = "{base}/run"\n'
        )
        yield env
    finally:
        for argv in (["buildah", "rm", "--all"], ["buildah", "rmi", "--all", "--force"]):
            subprocess.run(argv, env=env, capture_output=True, check=False)
        detach(graph, device)
        image.unlink()


def detach(mountpoint: Path, device: str) -> None:
    """Unmount everything at and below ``mountpoint``, then detach ``device``: the kernel
    detaches a loop device that is still open once it is closed, so wait for that (10 s)."""
    done = subprocess.run(["umount", "-R", mountpoint], capture_output=True, text=True)
    busy = str(mountpoint) in Path("/proc/mounts").read_text()
    if busy:
        subprocess.run(["umount", "-R", "-l", mountpoint], capture_output=True, check=False)
    subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
    for _ in range(100):
        if f"{device}:" not in sh("losetup", "-a"):
            break
        time.sleep(0.1)
    assert not busy, f"{mountpoint} was busy: {done.stderr}"
    assert f"{device}:" not in sh("losetup", "-a"), f"{device} is still attached"


@pytest.fixture
def full(small_storage: dict[str, str], fixture_repo: Path, tmp_path: Path) -> Iterator[Builder]:
    helper = Builder(small_storage, fixture_repo, tmp_path)
    mounts_before = overlay_mounts(small_storage)
    yield helper
    assert helper.containers() == [], "a build left a working container behind"
    assert overlay_mounts(small_storage) == mounts_before, "a build left a rootfs mounted"


def graph_of(builder: Builder) -> Path:
    return Path(builder.env["CONTAINERS_STORAGE_CONF"]).parent / "graph"


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def images(builder: Builder) -> list[tuple[str, tuple[str, ...]]]:
    out = builder.tool("buildah", "images", "--all", "--json", "--no-trunc")
    return sorted((e["id"], tuple(sorted(e.get("names") or ()))) for e in json.loads(out or "[]"))


@contextmanager
def ballast(graph: Path, leave: int) -> Iterator[None]:
    """A file that takes all but ``leave`` bytes of the filesystem, removed afterwards."""
    path = graph / "ballast"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, free(graph) - leave)
        os.close(fd)
        yield
    finally:
        with suppress(OSError):
            os.close(fd)
        path.unlink()


@contextmanager
def fill_when_written(graph: Path, after: int = 1 << 20) -> Iterator[threading.Event]:
    """Another writer that takes all the free space as soon as the build has written ``after``
    bytes to the storage (dnf's transaction under way): the disk fills during the install."""
    path, stop, filled = graph / "ballast", threading.Event(), threading.Event()
    start = free(graph)

    def watch() -> None:
        while not stop.is_set():
            now = free(graph)
            if start - now > after:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with suppress(OSError):
                    os.posix_fallocate(fd, 0, now)
                with suppress(OSError):  # the last blocks, as far as they go
                    os.posix_fallocate(fd, 0, now + free(graph))
                os.close(fd)
                filled.set()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield filled
    finally:
        stop.set()
        thread.join()
        path.unlink(missing_ok=True)


def small_build(builder: Builder, content: str) -> str:
    """The small image, whose file says ``content`` (a new image for each content)."""
    done = builder.cli(builder.recipe("small.py", SMALL.replace("a\\n", content + "\\n")))
    assert done.returncode == 0, done.stderr[-2000:]
    image = builder.image_id(TAG)
    assert image is not None
    return image


def assert_failed_cleanly(
    builder: Builder,
    done: subprocess.CompletedProcess[str],
    before: list[tuple[str, tuple[str, ...]]],
    previous: str,
) -> None:
    """One line naming the storage and its free space; nothing new in the storage; the tag on
    the image it had."""
    graph = graph_of(builder)
    assert done.returncode != 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(lines) == 1, done.stderr[-2000:]
    assert f"no space left on device for the containers storage {graph} (" in lines[0], lines
    assert " free)" in lines[0], lines
    assert images(builder) == before, "the failed build left an image, or a name"
    assert builder.image_id(TAG) == previous


def assert_next_build_works(builder: Builder, previous: str) -> None:
    gc = builder.cli("gc", repo=False, releasever=None)
    assert gc.returncode == 0, gc.stderr[-2000:]
    assert "0 leftover containers and 0 pending images removed" in gc.stdout, gc.stdout
    after = small_build(builder, "after")
    assert after != previous
    with builder.mounted(TAG) as root:
        assert (root / "small").read_text() == "after\n"
        assert builder.packages(root) != []


def test_an_install_refused_for_want_of_space_names_the_storage(full: Builder) -> None:
    previous = small_build(full, "before")
    before = images(full)
    with ballast(graph_of(full), leave=8 << 20):  # glibc-all-langpacks: 28 MB
        done = full.cli(full.recipe("big.py", BIG_INSTALL))
    assert_failed_cleanly(full, done, before, previous)
    assert_next_build_works(full, previous)


def test_a_transaction_that_runs_out_of_space_names_the_storage(full: Builder) -> None:
    """rpm's check passed; the disk fills while it unpacks (rpm 4.18 then reports a stale
    errno: 'cpio: write failed - No such file or directory')."""
    previous = small_build(full, "before")
    before = images(full)
    with fill_when_written(graph_of(full)) as filled:
        done = full.cli(full.recipe("big.py", BIG_INSTALL))
    assert filled.is_set(), "the build was over before the disk filled"
    assert_failed_cleanly(full, done, before, previous)
    assert_next_build_works(full, previous)


def test_a_recipe_write_that_does_not_fit_names_the_storage(full: Builder) -> None:
    previous = small_build(full, "before")
    before = images(full)
    done = full.cli(full.recipe("big.py", big_write(free(graph_of(full)) + (1 << 20))))
    assert_failed_cleanly(full, done, before, previous)
    assert "big.py:7: cannot write /big in the image" in done.stderr, done.stderr[-2000:]
    assert_next_build_works(full, previous)


def test_a_commit_that_does_not_fit_names_the_storage(full: Builder) -> None:
    """The rootfs takes 60% of the free space: it fits, its layer (as much again) does not."""
    previous = small_build(full, "before")
    before = images(full)
    done = full.cli(full.recipe("big.py", big_write(free(graph_of(full)) * 6 // 10)))
    assert_failed_cleanly(full, done, before, previous)
    assert "buildah commit" in done.stderr, done.stderr[-2000:]
    assert_next_build_works(full, previous)
