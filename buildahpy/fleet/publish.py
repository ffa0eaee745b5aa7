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
from buildahpy.fleet.fleet import BUILT, UP_TO_DATE, Entry
from buildahpy.host import buildah
from buildahpy.log import error_line, step
from buildahpy.plan.publish import Publish, destinations


@attrs.frozen
class Sent:
    recipe: str
    tag: str
    destination: str
    digest: str = ""
    error: str = ""


def publish(entries: Sequence[Entry], settings: Publish) -> list[Sent]:
    sent: list[Sent] = []
    if not settings.wanted:
        return sent
    options = {"authfile": settings.authfile, "tls_verify": settings.tls_verify}
    options["creds"] = settings.creds
    with tempfile.TemporaryDirectory(prefix="buildahpy-push-") as scratch:
        for entry in entries:
            if entry.status not in (BUILT, UP_TO_DATE):
                continue
            tag = entry.node.recipe.tag
            for dest in destinations(settings, entry.name, up_to_date=entry.status == UP_TO_DATE):
                sent.append(_send(entry.name, tag, dest, Path(scratch) / "digest", options))
    return sent


def _send(recipe: str, tag: str, dest: str, digestfile: Path, options: dict[str, Any]) -> Sent:
    with step("push", image=tag, destination=dest):
        try:
            digest = buildah.push(tag, dest, digestfile, **options)
        except (CommandError, PreflightError, OSError) as exc:
            cause = stderr_tail(exc.stderr, lines=1) if isinstance(exc, CommandError) else str(exc)
            error = f"cannot push {tag} to {dest}: {cause}"
            return Sent(recipe, tag, dest, error=error)
    return Sent(recipe, tag, dest, digest=digest)


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
