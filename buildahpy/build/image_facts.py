"""What a local image is, read from a mount of it: its OCI config, its packages (from its own
rpmdb, whoever built it), its bytes on disk and, if asked, its tree file by file.

Host binaries: buildah (through buildah.py), rpm (through rpmdb.py). The rpmdb is found through
the confined RootFS and handed to rpm as the path it resolves to inside the image, never a link
rpm would follow on the host; the tree is walked without following links (host/imagetree.py).
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import attrs

from buildahpy.build.bases import RPMDB_PATHS, has_db
from buildahpy.errors import BuildError, CommandError
from buildahpy.host import buildah, imagetree, rpmdb
from buildahpy.host.rootfs import RootFS
from buildahpy.host.tools import base_env
from buildahpy.plan.packages import Package
from buildahpy.privilege import gc


@attrs.frozen
class ImageFacts:
    reference: str  # as the user named it
    image_id: str
    config: dict[str, Any]  # buildah inspect's OCIv1 config
    rpmdb: str  # where the rpmdb is inside the image, "" when it has none
    packages: dict[str, Package]
    image_bytes: int  # the image's size, as `podman images` shows it (buildah.image_size)
    tree: dict[str, imagetree.Entry] | None = None

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})


def find_rpmdb(root: RootFS) -> str:
    """The first of the rpmdb's places that holds one, as it resolves inside the image."""
    for path in RPMDB_PATHS:
        where = root.resolve(path)
        if where and has_db(root, where) and root.host_escape(where) is None:
            return where
    return ""


@contextmanager
def mounted(image: str) -> Iterator[RootFS]:
    """A working container of ``image``, mounted, claimed like a build's (so that a killed
    command's leftover is collected by the next run) and removed on the way out."""
    with ExitStack() as stack:
        name = f"buildahpy-inspect-{secrets.token_hex(6)}-{secrets.token_hex(3)}"
        stack.enter_context(gc.claim(name))
        buildah.create(name, image)
        stack.callback(buildah.remove, name)
        root = RootFS(Path(buildah.mount(name)))
        stack.callback(root.close)
        yield root


def read_image(image: str, *, tree: bool = False) -> ImageFacts:
    """The facts of a local image (a tag or an id); one line naming it when there is none."""
    try:
        config = buildah.image_config(image)
        image_id = buildah.image_id(image) or ""
    except CommandError:
        raise BuildError(f"{image}: no such local image") from None
    with mounted(image_id or image) as root, tempfile.TemporaryDirectory() as home:
        image_bytes = buildah.image_size(image_id or image)
        snapshot = imagetree.snapshot(root.path) if tree else None
        dbpath = find_rpmdb(root)
        env = base_env({"HOME": home})  # the user's ~/.rpmmacros never applies
        packages = rpmdb.query(str(root.path), dbpath, env) if dbpath else {}
        return ImageFacts(
            reference=image,
            image_id=image_id,
            config=config,
            rpmdb=dbpath,
            packages=packages,
            image_bytes=image_bytes,
            tree=snapshot,
        )
