"""SBOMs at build time (``--sbom DIR``, ``sbom_in_image=True``) and of any image buildahpy
built (``buildahpy sbom IMAGE``), from the image's own rpmdb.

Host binaries: buildah and podman (through buildah.py), rpm (through rpmdb.py).
"""

from __future__ import annotations

import secrets
import tempfile
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from buildahpy.build.context import Context
from buildahpy.errors import BuildahpyError, BuildError, CommandError
from buildahpy.host import atomic, buildah, rpmdb
from buildahpy.host.rootfs import RootFS
from buildahpy.host.tools import base_env
from buildahpy.log import step
from buildahpy.plan.distro import Target, normalise_family, parse_os_release
from buildahpy.plan.labels import LABEL_PACKAGES
from buildahpy.plan.packages import RELEASE_FILES

FORMATS = ("cyclonedx", "spdx")
_RPMDBS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm")

if TYPE_CHECKING:
    from buildahpy.build import sbom

# sbom and sbom_spdx are imported where a document is written, not with this module: their
# libraries (cyclonedx, spdx_tools, license_expression) take ~0.9 s to import, which every build
# paid at start-up, most of them writing no SBOM at all.


def _subject(ctx: Context, image_id: str = "") -> sbom.Subject:
    from buildahpy.build import sbom

    base = ctx.recipe.base or ("" if ctx.plan.base_image == "scratch" else ctx.plan.base_image)
    return sbom.Subject(
        tag=ctx.plan.tag,
        target=ctx.plan.target,
        image_id=image_id,
        digest=buildah.image_digest(image_id) if image_id else "",
        base=base,
        base_digest=buildah.image_digest(ctx.plan.base_image) if base else "",
        created=ctx.timestamp.epoch if ctx.timestamp else 0,
    )


def write_sbom_in_image(ctx: Context) -> None:
    """The CycloneDX document inside the image, written before the commit (so without the
    image's id, which the document says)."""
    if not ctx.recipe.sbom_in_image:
        return
    from buildahpy.build import sbom

    document = sbom.cyclonedx(_subject(ctx), ctx.rpmdb)
    ctx.rootfs.mkdir(str(Path(sbom.IN_IMAGE_PATH).parent), 0o755)
    ctx.rootfs.write_bytes(sbom.IN_IMAGE_PATH, document.encode())


def write_sboms(ctx: Context) -> None:
    """``--sbom DIR``: DIR/<recipe>.cdx.json and DIR/<recipe>.spdx.json."""
    directory = ctx.options.sbom_dir
    if directory is None:
        return
    from buildahpy.build import sbom, sbom_spdx

    with step("sbom"):
        subject = _subject(ctx, ctx.image_id)
        directory.mkdir(parents=True, exist_ok=True)
        # one pair per architecture of a multi-arch recipe: DIR/<recipe>.<arch>.cdx.json
        name = f"{ctx.recipe.name}.{ctx.plan.arch}" if ctx.plan.arch else ctx.recipe.name
        # whole, also when another run writes the same recipe's files at once (host/atomic.py)
        atomic.write_text(directory / f"{name}.cdx.json", sbom.cyclonedx(subject, ctx.rpmdb))
        atomic.write_text(directory / f"{name}.spdx.json", sbom_spdx.spdx(subject, ctx.rpmdb))


def target_of(root: RootFS, image: str) -> Target:
    fd = root.open_regular(RELEASE_FILES[0])
    if fd is None:
        raise BuildError(f"{image}: the image has no {RELEASE_FILES[0]}: cannot tell its distro")
    with open(fd, encoding="utf-8", errors="replace") as handle:
        found = parse_os_release(handle.read())
    try:
        family = normalise_family(found.id)
    except BuildahpyError:
        raise BuildError(f"{image}: its os-release names {found.id}, not an RPM family") from None
    release = found.version_id if family == "fedora" else found.version_id.split(".")[0]
    return Target(family, release)


def image_sbom(image: str, fmt: str) -> str:
    """The SBOM of a local image buildahpy built, read from a mount of it."""
    try:
        labels = buildah.image_labels(image)
        image_id = buildah.image_id(image) or ""
    except CommandError:
        raise BuildError(f"{image}: no such local image") from None
    if LABEL_PACKAGES not in labels:
        raise BuildError(f"{image}: not built by buildahpy (no {LABEL_PACKAGES} label)")
    with ExitStack() as stack:
        container = f"buildahpy-sbom-{secrets.token_hex(3)}"
        buildah.create(container, image)
        stack.callback(buildah.remove, container)
        root = RootFS(Path(buildah.mount(container)))
        stack.callback(root.close)
        dbpath = next((p for p in _RPMDBS if root.exists(f"{p}/rpmdb.sqlite")), None)
        if dbpath is None:
            raise BuildError(f"{image}: the image has no rpmdb ({' or '.join(_RPMDBS)})")
        target = target_of(root, image)
        home = stack.enter_context(tempfile.TemporaryDirectory(prefix="buildahpy-sbom-"))
        packages = rpmdb.query(str(root.path), dbpath, base_env({"HOME": home}))
    from buildahpy.build import sbom, sbom_spdx

    subject = sbom.Subject(
        tag=image,
        target=target,
        image_id=image_id,
        digest=buildah.image_digest(image_id) if image_id else "",
        base=labels.get("org.opencontainers.image.base.name", ""),
        base_digest=labels.get("org.opencontainers.image.base.digest", ""),
        created=_epoch(labels.get("org.opencontainers.image.created", "")),
    )
    return (
        sbom.cyclonedx(subject, packages)
        if fmt == "cyclonedx"
        else sbom_spdx.spdx(subject, packages)
    )


def _epoch(rfc3339: str) -> int:
    """The image's own created label as seconds (0 when it has none that parses)."""
    try:
        return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
