"""The small filesystems of scripts/chaos's storage class: a loop-mounted ext4 image as a lab's
graphroot, a ballast file that leaves a given free space, another writer that fills the disk
while a build writes, and the storage's own records read for layers nothing uses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from chaos_lab import Lab

LAYER_ID = re.compile(r"[0-9a-f]{64}")
SIZE = 64 << 20  # a few small images and the rootfs of a failed one fit, not much more


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
