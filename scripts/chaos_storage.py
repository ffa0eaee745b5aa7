"""scripts/chaos class storage: the containers storage's graphroot on a small ext4 filesystem
of its own (a loop-mounted image), and an install, a recipe write and a commit that do not fit.

Each fault rebuilds the tag a small build made just before. A clear error is one
``buildahpy:`` line saying no space is left in the containers storage, with its path and free
space, exit non-zero, the storage's images and names as they were (the tag on its previous
image); then, once the space is back, the next small build on the same storage works. The
audit also counts orphan layers (layers no image or container uses: what a half-written
commit would leave) as leaks, and the loop device left attached after teardown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path

from chaos_lab import Lab, Row, lab

LAYER_ID = re.compile(r"[0-9a-f]{64}")
SIZE = 64 << 20  # a few small images and the rootfs of a failed one fit, not much more
TAG = "localhost/chaos/a"
SMALL = """\
from buildahpy import recipe

@recipe("localhost/chaos/a")
def a(image):
    image.install("busybox")
    image.write_file("/chaos", {content!r})
"""
BIG_WRITE = """\
from buildahpy import recipe

@recipe("localhost/chaos/a")
def a(image):
    image.install("busybox")
    image.write_file("/big", b"x" * {size})
"""
BIG_INSTALL = """\
from buildahpy import recipe

@recipe("localhost/chaos/a")
def a(image):
    image.install("glibc-all-langpacks")
"""


def sh(*argv: str | Path) -> str:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True)
    return done.stdout


def free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@contextmanager
def loop_graph(here: Lab) -> Iterator[tuple[Path, str]]:
    """The lab's graphroot as a fresh ext4 filesystem of SIZE bytes: (graphroot, device).
    Unmounted and detached afterwards, also on failure."""
    image, graph = here.base / "graph.img", here.base / "graph"
    with open(image, "wb") as handle:
        handle.truncate(SIZE)
    sh("mkfs.ext4", "-q", "-F", "-m", "0", image)  # -m 0: no blocks only root may use
    device = sh("losetup", "--find", "--show", image).strip()
    try:
        graph.mkdir(exist_ok=True)
        sh("mount", device, graph)
        yield graph, device
    finally:
        for argv in (["buildah", "rm", "--all"], ["buildah", "rmi", "--all", "--force"]):
            subprocess.run(argv, env=here.env, capture_output=True, check=False, timeout=120)
        subprocess.run(["umount", "-R", str(graph)], capture_output=True, check=False)
        if str(graph) in Path("/proc/mounts").read_text():
            subprocess.run(["umount", "-R", "-l", str(graph)], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", device], capture_output=True, check=False)
        image.unlink(missing_ok=True)


def attached(device: str) -> bool:
    """Whether the loop device is still attached, after waiting up to 10 s: the kernel detaches
    a device that something still has open once it is closed."""
    for _ in range(100):
        if f"{device}:" not in sh("losetup", "-a"):
            return False
        time.sleep(0.1)
    return True


@contextmanager
def ballast(graph: Path, leave: int) -> Iterator[None]:
    """A file taking all but ``leave`` bytes of the filesystem, while the fault runs."""
    path = graph / "ballast"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, max(free(graph) - leave, 1))
    finally:
        os.close(fd)
    try:
        yield
    finally:
        path.unlink()


@contextmanager
def fill_when_written(graph: Path, after: int = 1 << 20) -> Iterator[threading.Event]:
    """Another writer taking all the free space once the build has written ``after`` bytes to
    the storage: the disk fills while dnf's transaction unpacks."""
    path, stop, filled = graph / "ballast", threading.Event(), threading.Event()
    start = free(graph)

    def watch() -> None:
        while not stop.is_set():
            now = free(graph)
            if start - now > after:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with suppress(OSError):
                    os.posix_fallocate(fd, 0, now)
                with suppress(OSError):  # what was freed meanwhile, as far as it goes
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


def images(here: Lab) -> list[tuple[str, tuple[str, ...]]]:
    out = here.tool("buildah", "images", "--all", "--json", "--no-trunc")
    return sorted((e["id"], tuple(sorted(e.get("names") or ()))) for e in json.loads(out or "[]"))


def tag_id(here: Lab) -> str:
    done = subprocess.run(
        ["buildah", "inspect", "--type=image", "--format={{.FromImageID}}", TAG],
        env=here.env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def _records(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    entries: list[dict[str, object]] = json.loads(path.read_text() or "[]")
    return entries


def orphan_layers(here: Lab) -> list[str]:
    """Layers neither an image nor a container is made of, layers marked incomplete, and layer
    directories containers-storage has no record of: what a half-written commit leaves."""
    graph, run = here.base / "graph", here.base / "run"
    records = [graph / "overlay-layers/layers.json", graph / "overlay-layers/volatile-layers.json"]
    records.append(run / "overlay-layers/volatile-layers.json")  # a transient store's
    layers = {str(e["id"]): e for path in records for e in _records(path)}
    tops = [e.get("layer") for e in _records(graph / "overlay-images/images.json")]
    tops += [e.get("layer") for e in _records(graph / "overlay-containers/containers.json")]
    used: set[str] = set()
    for top in tops:
        while isinstance(top, str) and top in layers and top not in used:
            used.add(top)
            top = layers[top].get("parent")  # type: ignore[assignment]
    found = [f"orphan layer {i[:12]}" for i in layers if i not in used]
    found += [
        f"incomplete layer {i[:12]}"
        for i, e in layers.items()
        if isinstance(flags := e.get("flags"), dict) and flags.get("incomplete")
    ]
    overlay = graph / "overlay"
    names = [p.name for p in overlay.iterdir()] if overlay.is_dir() else []
    dirs = {name for name in names if LAYER_ID.fullmatch(name)}
    found += [f"layer directory {d[:12]} without a record" for d in sorted(dirs - set(layers))]
    return found


def clear_storage_error(stderr: str, graph: Path) -> str:
    """'' when stderr has one ``buildahpy:`` line saying no space is left in the storage at
    ``graph``, with its free space; otherwise why not."""
    lines = [line for line in stderr.splitlines() if line.startswith("buildahpy:")]
    if len(lines) != 1:
        return f"{len(lines)} error lines: {stderr.strip()[-400:]}"
    if f"no space left on device for the containers storage {graph} (" not in lines[0]:
        return f"error line does not name the full storage: {lines[0][:400]}"
    return ""


def no_filling(graph: Path) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class Fault:
    name: str
    recipe: Callable[[Path], str]  # the recipe, sized from the graphroot's free space
    filling: Callable[[Path], AbstractContextManager[object]] = no_filling  # while it builds
    may_fit: bool = False  # built is a result too (then the tag must be a complete image)


def write(share: float, extra: int = 0) -> Callable[[Path], str]:
    """A recipe writing ``share`` of the free space (plus ``extra`` bytes) into the image."""
    return lambda graph: BIG_WRITE.format(size=int(free(graph) * share) + extra)


def faults(long: bool) -> list[Fault]:
    """The disk filling during dnf's transaction, a recipe write bigger than the free space, a
    rootfs that fits (60% of the free space) whose layer does not; the long mode adds rpm's
    own check refusing the install (and then the commit's edge, see commit_edge)."""
    chosen = [
        Fault("install filling the disk", lambda g: BIG_INSTALL, fill_when_written),
        Fault("recipe write", write(1, 1 << 20)),
        Fault("commit", write(0.6)),
    ]
    if long:
        refused = Fault("install refused", lambda g: BIG_INSTALL, lambda g: ballast(g, 8 << 20))
        chosen.insert(0, refused)
    return chosen


# where in buildah commit the space ran out, from the words of its error
STAGES = (
    ("processing tar file", "layer contents"),
    ("tar-split", "layer record"),
    ("layers.json", "layer record"),
    ("images.json", "image record"),
    ("manifest", "image record"),
    ("buildah.json", "container record"),
)


def stage(stderr: str) -> str:
    line = next((s for s in stderr.splitlines() if s.startswith("buildahpy:")), "")
    return next((name for words, name in STAGES if words in line), "elsewhere")


def commit_edge(here: Lab, row: Row, graph: Path, counter: list[int], steps: int = 12) -> None:
    """Bisect the size of a rootfs between one whose image fits (40% of the free space) and one
    whose layer does not (55%), down to a few blocks: where the commit runs out after it
    stored the layer, or the image. Each step is a fault: built, or a clear error."""
    here.gc()  # only the small image: each step starts with the same free space
    low, high = int(free(graph) * 0.40), int(free(graph) * 0.55)
    seen: dict[str, int] = {}
    for _ in range(steps):
        if high - low <= 4096:
            break
        size = (low + high) // 2
        fault = Fault(
            f"commit of {size} B", lambda g, n=size: BIG_WRITE.format(size=n), may_fit=True
        )
        done = run_fault(here, row, graph, fault, counter)
        here.gc()  # the image it built, untagged by the small build after it
        what = "built" if done.returncode == 0 else stage(done.stderr)
        seen[what] = seen.get(what, 0) + 1
        low, high = (size, high) if done.returncode == 0 else (low, size)
    row.notes.append("commit's edge: " + ", ".join(f"{n} {what}" for what, n in seen.items()))


def run_fault(
    here: Lab, row: Row, graph: Path, fault: Fault, counter: list[int]
) -> subprocess.CompletedProcess[str]:
    name = fault.name
    previous, before = tag_id(here), images(here)
    path = here.base / "fault.py"
    path.write_text(fault.recipe(graph))
    with fault.filling(graph):
        done = here.cli(path)
    row.faults += 1
    if done.returncode == 0:
        if fault.may_fit and tag_id(here) != previous:
            row.survived += 1  # a complete image, as the audit's damaged tags check
        else:
            row.notes.append(f"{name}: built although it cannot fit")
    elif problem := clear_storage_error(done.stderr, graph):
        row.notes.append(f"{name}: {problem}")
    elif images(here) != before or tag_id(here) != previous:
        row.notes.append(f"{name}: images changed: {before} -> {images(here)}")
    else:
        row.clear += 1
    here.audit(row)
    leaks = orphan_layers(here)
    row.leaks += len(leaks)
    row.notes += [f"{name}: leaks: {leak}" for leak in leaks]
    if not small_build(here, row, counter, f"after {name}"):
        row.clear -= 1 if row.clear else 0
    return done


def small_build(here: Lab, row: Row, counter: list[int], what: str) -> bool:
    """A small image with new content (a new image each time) on the same storage."""
    counter[0] += 1
    path = here.base / "small.py"
    path.write_text(SMALL.format(content=f"{counter[0]}\n"))
    done = here.cli(path)
    if done.returncode != 0:
        row.notes.append(f"{what}: the small build failed: {done.stderr.strip()[-300:]}")
        return False
    return True


def run_storage(fixture: Path, long: bool) -> list[Row]:
    row = Row("disk full, containers storage")
    with lab(fixture, "storage") as here:
        device = ""
        try:
            with loop_graph(here) as (graph, device):
                here.mounts_before = here.mounts()
                counter = [0]
                if not small_build(here, row, counter, "first"):
                    return [row]
                for fault in faults(long):
                    run_fault(here, row, graph, fault, counter)
                if long:
                    commit_edge(here, row, graph, counter)
                here.audit(row)
        finally:
            if device and attached(device):
                row.leaks += 1
                row.notes.append(f"leaks: loop device {device} still attached")
    return [row]
