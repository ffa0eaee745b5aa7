"""The images buildahpy built that nothing uses any more: what ``buildahpy gc`` removes.

Host binaries: buildah, podman (through ``buildah.py``).

A rebuild moves the tag and leaves the previous image untagged, as podman build does. Such an
image is ours when it carries the inputs label every buildahpy image has (plan/labels.py),
and no longer used when it has no name at all (no tag, no pending name of a build under way) and
no run is building (gc.claim_run: a run's dependents may still start from a base it built and
that another run untagged meanwhile). Images of others, tagged or not, are never touched.

An untagged image may be the parent of another image's layers (the previous base of an image
that still has its tag). Removing it removes only the image: containers-storage keeps every
layer another image is made of, so the tagged image stays whole (tested). ``buildah rmi``
refuses an image a container uses; that one is kept and said so.

A commit that fails half way (a full disk: containers-storage stored the image but neither its
manifest nor, when it tried to undo, the image's removal) leaves a nameless image without a
manifest. Nothing can inspect, run or push it (podman asks for its removal), and it may hold a
layer as big as the image. The build whose commit failed removes it, once its container has
given back the space that the removal needs; gc removes any such image that is still without a
manifest a moment later (a commit under way stores its manifest milliseconds after the image),
whoever made it.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress

import attrs

from buildahpy.errors import CommandError
from buildahpy.host import buildah
from buildahpy.log import get_logger, human_size, plural
from buildahpy.plan.labels import LABEL_INPUTS
from buildahpy.privilege import gc

_ROUNDS = 5  # removing a child can let its parent go: a few passes, not a loop forever
SETTLE_SECONDS = 1.0  # a half-written image still so after this is no commit under way


@attrs.frozen
class Unused:
    removed: tuple[tuple[str, int], ...]  # (image id, size in bytes)
    kept: tuple[tuple[str, str], ...]  # (image id, why)
    busy: bool  # a run is building: nothing was looked at
    seconds: float
    half: tuple[str, ...] = ()  # half-written images removed (image ids)


def half_written(old: Collection[str] = ()) -> list[str]:
    """The half-written images (see the module docstring) not in ``old``, as they still are
    SETTLE_SECONDS after a first look."""
    found = [image_id for image_id in buildah.half_written() if image_id not in old]
    if not found:
        return []
    time.sleep(SETTLE_SECONDS)
    still = set(buildah.half_written())
    return [image_id for image_id in found if image_id in still]


def drop_half_written(old: Collection[str] = ()) -> list[str]:
    """Remove the half-written images not in ``old``; the ids removed."""
    found = half_written(old)
    if found:
        buildah.remove_image(*found)
        get_logger().info("removed half-written image", images=" ".join(i[:12] for i in found))
    return found


@contextmanager
def removing_half_written() -> Iterator[None]:
    """Around a build: when it fails, remove the half-written images that appeared meanwhile
    (its commit's, or another's that failed as well)."""
    old = buildah.half_written()
    try:
        yield
    except BaseException:
        drop_half_written(old)
        raise


def unused_images() -> list[tuple[str, int]]:
    """Our untagged images: (id, size), oldest listing order."""
    half = set(buildah.half_written())  # one of them would fail the whole inspect
    nameless = [i for i, names in buildah.images() if not names and i not in half]
    found = buildah.inspect_images(nameless)
    ours = []
    for entry in found:
        labels = entry.get("Labels") or {}
        if isinstance(labels, dict) and LABEL_INPUTS in labels:
            size = entry.get("Size")
            ours.append((str(entry.get("Id", "")), size if isinstance(size, int) else 0))
    return ours


def collect_images(*, dry_run: bool = False) -> Unused:
    started = time.monotonic()
    with gc.no_run_building() as free:
        if not free:
            return Unused((), (), True, 0.0)
        if dry_run:
            return Unused(tuple(unused_images()), (), False, 0.0, tuple(half_written()))
        half = drop_half_written()
        candidates = unused_images()
        removed = _remove(candidates)
    gone = {image_id for image_id, _size in removed}
    kept = tuple((i, "a container uses it") for i, _s in candidates if i not in gone)
    for image_id, size in removed:
        get_logger().info("removed unused image", image=image_id[:12], size=size)
    return Unused(tuple(removed), kept, False, round(time.monotonic() - started, 2), tuple(half))


def _remove(candidates: list[tuple[str, int]]) -> list[tuple[str, int]]:
    removed: list[tuple[str, int]] = []
    left = dict(candidates)
    for _ in range(_ROUNDS):
        if not left:
            break
        with suppress(CommandError):  # some refused (a container uses them): see what went
            buildah.remove_image(*left)
        present = {image_id for image_id, _names in buildah.images()}
        went = [(i, size) for i, size in left.items() if i not in present]
        if not went:
            break
        removed += went
        left = {i: size for i, size in left.items() if i in present}
    return removed


def report(result: Unused, *, dry_run: bool = False) -> list[str]:
    """What ``buildahpy gc`` prints about unused images."""
    verb = "would remove" if dry_run else "removed"
    if result.busy:
        return ["kept every untagged image: a build is running (run gc again when it is done)"]
    lines = [f"{verb} half-written image {i[:12]} (a commit that failed)" for i in result.half]
    lines += [f"{verb} unused image {i[:12]} ({human_size(size)})" for i, size in result.removed]
    lines += [f"kept unused image {i[:12]} ({why})" for i, why in result.kept]
    total = human_size(sum(size for _i, size in result.removed))
    done = "to remove" if dry_run else "removed"
    lines.append(f"{plural(len(result.removed), 'unused image')} {done} ({total})")
    return lines
