"""One recipe for several architectures: one build each, then a manifest list under the tag.

Each architecture is built as a single image is (pipeline.build), with ``Options.arch`` set and
tagged under a name only this run uses. Only when every one has succeeded is each image named
``<tag>-<arch>`` and the list, made of them, moved under the recipe's tag: a failure on any
architecture leaves the previous tag (and every ``<tag>-<arch>``) where it was, and the images
already built are removed with their private names. An architecture whose image is up to date
(its inputs unchanged, fleet/jobs.py) is put in the list as it is.

Host binaries: buildah (through host/buildah.py and host/manifest.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import attrs

from buildahpy.api.recipe import Recipe
from buildahpy.build.context import NO_EXTRAS, BuildResult, Extras
from buildahpy.build.pipeline import build
from buildahpy.host import buildah, manifest
from buildahpy.log import step
from buildahpy.plan.arches import arch_tag
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options
from buildahpy.unwind import UnwindStack


@attrs.frozen
class ArchPart:
    """One architecture of a multi-arch recipe: what the fleet decided for its build, or the
    id of its image when that is up to date (``reuse``)."""

    arch: str
    extras: Extras = NO_EXTRAS
    reuse: str = ""


def private_name(recipe: Recipe, what: str, token: str) -> str:
    return f"localhost/buildahpy-{recipe.name.replace('_', '-').lower()}-{what}:{token}"


def build_arches(
    recipe: Recipe,
    options: Options,
    parts: Sequence[ArchPart],
    *,
    host: HostRelease,
    flavour: str,
) -> BuildResult:
    started, token = time.monotonic(), secrets.token_hex(3)
    arches = [part.arch for part in parts]
    with UnwindStack() as stack, step("multi-arch", recipe=recipe.name, arches=",".join(arches)):
        images: dict[str, str] = {}
        built: list[BuildResult] = []
        for part in parts:
            if part.reuse:
                images[part.arch] = part.reuse
                continue
            private = private_name(recipe, "arch", f"{part.arch}-{token}")
            each = attrs.evolve(options, arch=part.arch, tag_as=private)
            result = build(recipe, each, host=host, flavour=flavour, extras=part.extras)
            # the image goes with this name unless it got its <tag>-<arch> below
            stack.callback(buildah.remove_image, private)
            images[part.arch], built = result.image_id, [*built, result]
        listed = private_name(recipe, "list", token)
        with step("manifest list", tag=recipe.tag):
            list_id = manifest.create(listed, [images[arch] for arch in arches])
            stack.callback(manifest.remove, listed)
            for arch in arches:
                buildah.tag(images[arch], arch_tag(recipe.tag, arch))
            buildah.tag(listed, recipe.tag)
    size = sum(buildah.image_size(images[arch]) for arch in arches)
    return BuildResult(
        recipe.name,
        recipe.tag,
        list_id,
        size,
        tuple(sorted({p for result in built for p in result.packages})),
        round(time.monotonic() - started, 1),
        arches=tuple(sorted(images.items())),
    )
