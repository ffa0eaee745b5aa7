"""``--check-reproducible``: build every recipe twice and compare what came out.

The first build is an ordinary one (forced, as ``--rebuild``) and keeps its tag whatever the
outcome; the second is tagged with a name of its own (Options.tag_as), never the recipe's tag,
and removed at the end. Bases the recipes build are not rebuilt the second time: both builds
start from the same base. Where the image ids differ, both images are mounted and their trees
compared file by file (host/imagetree.py).

Host binaries: buildah (through buildah.py), and whatever the builds start.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import attrs

from buildahpy.errors import CommandError
from buildahpy.fleet import driver
from buildahpy.fleet.graph import TARGET, Node
from buildahpy.fleet.jobs import Settings
from buildahpy.host import buildah, imagetree
from buildahpy.log import get_logger
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options

_SHOWN = 50  # differing paths listed per image; the count says how many more


def check(
    nodes: Sequence[Node],
    options: Options,
    host: HostRelease,
    flavour: str,
    settings: Settings,
    report_path: Path | None = None,
) -> int:
    token = secrets.token_hex(4)
    private = attrs.evolve(options, tag_as=f"localhost/buildahpy-check-{{name}}:{token}")
    forced = attrs.evolve(settings, rebuild=True)
    status = driver.run(nodes, options, host, flavour, forced, report_path)
    try:
        status |= driver.run(nodes, private, host, flavour, forced)
        for node in nodes:
            if node.role == TARGET:
                status |= compare(node, private.tag_as.format(name=node.name.lower()), sys.stdout)
    finally:
        drop_private(nodes, private.tag_as)
    return 1 if status else 0


def compare(node: Node, second: str, out: TextIO) -> int:
    first_id, second_id = buildah.image_id(node.recipe.tag), buildah.image_id(second)
    if first_id is None or second_id is None:
        out.write(f"{node.name}: not compared, a build failed\n")
        return 1
    if first_id == second_id:
        out.write(f"{node.name}: reproducible, both builds gave image {first_id[:12]}\n")
        return 0
    found = tree_differences(first_id, second_id)
    out.write(
        f"{node.name}: NOT reproducible: image {first_id[:12]} then {second_id[:12]}, "
        f"{len(found)} path(s) differ\n"
    )
    for path, kinds in found[:_SHOWN]:
        out.write(f"  {path}: {', '.join(kinds)}\n")
    if len(found) > _SHOWN:
        out.write(f"  ... and {len(found) - _SHOWN} more\n")
    if not found:
        out.write("  the trees are the same: the image config or the layer's metadata differs\n")
    return 1


def tree_differences(first: str, second: str) -> list[tuple[str, list[str]]]:
    with ExitStack() as stack:
        trees = []
        for image in (first, second):
            name = f"buildahpy-check-{secrets.token_hex(4)}"
            buildah.create(name, image)
            stack.callback(buildah.remove, name)
            trees.append(imagetree.snapshot(Path(buildah.mount(name))))
    return imagetree.differences(trees[0], trees[1])


def drop_private(nodes: Sequence[Node], template: str) -> None:
    for node in nodes:
        name = template.format(name=node.name.lower())
        if buildah.image_id(name) is None:
            continue
        try:
            buildah.remove_image(name)  # the image goes unless the first build has the same id
        except CommandError as error:
            get_logger().warning(
                "cannot remove the second build's image", name=name, cause=str(error)
            )
