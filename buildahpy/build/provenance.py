"""Provenance in the image config: OCI annotations-as-labels and what made the layer.

``org.opencontainers.image.created`` is left to the reproducible-build timestamp. Host
binaries: git (through git.py), podman (through buildah.py) for the base's digest.
"""

from __future__ import annotations

from collections.abc import Mapping

from buildahpy.build.context import Context
from buildahpy.host import buildah, git

OCI = "org.opencontainers.image"


def oci_labels(ctx: Context, own: Mapping[str, str]) -> dict[str, str]:
    """The OCI labels buildahpy sets; a label the recipe set itself wins."""
    labels = {f"{OCI}.title": ctx.recipe.name}
    if ctx.recipe.version:
        labels[f"{OCI}.version"] = ctx.recipe.version
    revision = git.revision(ctx.recipe.file)
    if revision:
        labels[f"{OCI}.revision"] = revision
        source = git.origin(ctx.recipe.file)
        if source:
            labels[f"{OCI}.source"] = source
    if ctx.plan.base_image != "scratch":
        labels[f"{OCI}.base.name"] = ctx.recipe.base or ctx.plan.base_image
        digest = buildah.image_digest(ctx.plan.base_image)
        if digest:
            labels[f"{OCI}.base.digest"] = digest
    return {key: value for key, value in labels.items() if key not in own}


def created_by(ctx: Context) -> str:
    """What ``podman history`` shows for the layer: ``buildahpy: dnf install nginx (12
    packages)``."""
    specs = " ".join(ctx.requested) or "nothing"
    return f"buildahpy: dnf install {specs} ({len(ctx.rpmdb)} packages); recipe {ctx.recipe.name}"
