"""After the builds: each image to its --output destinations and --push registries.

A destination that fails is one line naming the image and the destination; the local image
and its tag stay, and the other images and destinations go on. Host binaries: buildah
(through host/buildah.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from buildahpy.errors import CommandError, PreflightError, stderr_tail
from buildahpy.fleet.fleet import BUILT, REGISTRY, UP_TO_DATE, Entry
from buildahpy.host import buildah, manifest
from buildahpy.log import error_line, step
from buildahpy.plan.publish import Publish, destinations, holds_lists, home


@attrs.frozen
class Sent:
    recipe: str
    tag: str
    destination: str
    digest: str = ""
    error: str = ""


def publish(entries: Sequence[Entry], settings: Publish, *, home_done: bool = False) -> list[Sent]:
    """Every image that is on this machine to its destinations; with ``home_done`` not to the
    fleet's home, where fleet/remote.py pushed it as it was built."""
    sent: list[Sent] = []
    if not settings.wanted:
        return sent
    for entry in entries:
        if entry.status not in (BUILT, UP_TO_DATE) or entry.source == REGISTRY:
            continue  # only in the registry: nothing here to send
        recipe = entry.node.recipe
        skip = home(settings, recipe.name, recipe.tag) if home_done else ""
        up_to_date = entry.status == UP_TO_DATE
        for dest in destinations(settings, entry.name, up_to_date=up_to_date, skip=skip):
            sent.append(send(entry.name, recipe.tag, dest, settings))
    return sent


def send(recipe: str, tag: str, dest: str, settings: Publish) -> Sent:
    with (
        step("push", image=tag, destination=dest),
        tempfile.TemporaryDirectory(prefix="buildahpy-push-") as scratch,
    ):
        try:
            digest = _push(tag, dest, Path(scratch) / "digest", settings.options)
        except (CommandError, PreflightError, OSError) as exc:
            cause = stderr_tail(exc.stderr, lines=1) if isinstance(exc, CommandError) else str(exc)
            error = f"cannot push {tag} to {dest}: {cause}"
            return Sent(recipe, tag, dest, error=error)
    return Sent(recipe, tag, dest, digest=digest)


def _push(tag: str, dest: str, digestfile: Path, options: dict[str, Any]) -> str:
    """A multi-arch image goes whole: its manifest list and every architecture's image."""
    if manifest.inspect(tag) is None:
        return buildah.push(tag, dest, digestfile, **options)
    if not holds_lists(dest):
        raise PreflightError(f"{dest} holds one image, and {tag} is a multi-arch manifest list")
    return manifest.push_all(tag, dest, digestfile, **options)


def print_sent(sent: Sequence[Sent], out: TextIO) -> None:
    for item in sent:
        if item.error:
            error_line(item.error)
        else:
            out.write(f"pushed {item.tag} -> {item.destination} {item.digest}\n")


def annotate(report: dict[str, Any], sent: Sequence[Sent]) -> None:
    """Each image's destinations, with the digest each one holds (the registry's), in the
    JSON report."""
    for image in report["images"]:
        image["pushed"] = [
            {"destination": s.destination, "digest": s.digest or None, "error": s.error or None}
            for s in sent
            if s.recipe == image["recipe"]
        ]
