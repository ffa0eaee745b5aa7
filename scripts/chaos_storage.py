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
import subprocess
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from chaos_lab import Lab, Row, lab
from chaos_loopfs import attached, ballast, fill_when_written, free, loop_graph, orphan_layers

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
    """The fault, then the audit and the next small build on the same storage."""
    previous, before = tag_id(here), images(here)
    path = here.base / "fault.py"
    path.write_text(fault.recipe(graph))
    with fault.filling(graph) as filled:
        done = here.cli(path)
    if isinstance(filled, threading.Event) and not filled.is_set():
        row.notes.append(f"{fault.name}: the build was over before the disk filled (no fault)")
    else:
        row.faults += 1
        judge(here, row, graph, fault, done, (previous, before))
    here.audit(row)
    leaks = orphan_layers(here)
    row.leaks += len(leaks)
    row.notes += [f"{fault.name}: leaks: {leak}" for leak in leaks]
    if not small_build(here, row, counter, f"after {fault.name}"):
        row.clear -= 1 if row.clear else 0
    return done


def judge(
    here: Lab,
    row: Row,
    graph: Path,
    fault: Fault,
    done: subprocess.CompletedProcess[str],
    was: tuple[str, list[tuple[str, tuple[str, ...]]]],
) -> None:
    """Survived (built, where it may fit), a clear error (and nothing changed), or a note."""
    previous, before = was
    if done.returncode == 0:
        if fault.may_fit and tag_id(here) != previous:
            row.survived += 1  # a complete image, as the audit's damaged tags check
        else:
            row.notes.append(f"{fault.name}: built although it cannot fit")
    elif problem := clear_storage_error(done.stderr, graph):
        row.notes.append(f"{fault.name}: {problem}")
    elif images(here) != before or tag_id(here) != previous:
        row.notes.append(f"{fault.name}: images changed: {before} -> {images(here)}")
    else:
        row.clear += 1


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
