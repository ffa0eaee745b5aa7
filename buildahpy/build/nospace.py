"""A build that runs out of space says where: the containers storage (the image's rootfs, the
layer ``buildah commit`` writes), the dnf cache or a temporary directory, with the free space
left there, whichever step, tool or recipe write hit the full filesystem.

Host binaries: buildah (``buildah info``, for the storage's path, only once a build failed).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from buildahpy.errors import BuildahpyError, BuildError, CommandError
from buildahpy.host import buildah, space
from buildahpy.host.space import Place

# what each place is called in the error line
STORAGE = "the containers storage"
CACHE = "the dnf cache"


def storage_root() -> str | None:
    try:
        return buildah.graph_root()
    except (BuildahpyError, OSError, ValueError, KeyError):  # a storage that cannot say
        return None


def image_place(rootfs: Path) -> Place:
    """The containers storage that holds the mounted rootfs (overlay's upper directory is in
    its graphroot), or the rootfs itself when it is not below the graphroot."""
    graph = storage_root()
    if graph is not None and rootfs.is_relative_to(graph):
        return STORAGE, graph
    return "the image", str(rootfs)


def places(cache: Path | None, rootfs: Path | None = None) -> list[Place]:
    """Where a build writes, the first named when several share the least free space: the
    storage, the dnf cache, our workdir's and buildah's temporary directories (``buildah
    commit`` stages the layer's blob in $TMPDIR, else /var/tmp)."""
    if rootfs is not None:
        found = [image_place(rootfs)]
    else:
        graph = storage_root()
        found = [(STORAGE, graph)] if graph else []
    found += [(CACHE, str(cache))] if cache is not None else []
    for tmp in dict.fromkeys([tempfile.gettempdir(), os.environ.get("TMPDIR") or "/var/tmp"]):
        found.append(("the temporary directory", tmp))
    return found


def is_explained(text: str) -> bool:
    return f"{space.NO_SPACE_LEFT} for " in text


def explained_command(error: CommandError, where: Sequence[Place]) -> CommandError:
    """``error`` with the full filesystem as its hint when the tool's output says it ran out."""
    if is_explained(error.hint):
        return error
    full = space.no_space_hint(f"{error.stdout}\n{error.stderr}", where)
    if full is None:
        return error
    return CommandError(error.argv, error.returncode, error.stderr, hint=full, stdout=error.stdout)


def explained_write(what: str, exc: OSError, where: Sequence[Place]) -> BuildError:
    """Our own write into the rootfs (or the recipe's) that failed: on a full filesystem, say
    which and how much is left, else the OSError's own words."""
    cause = space.no_space_left(where) if space.is_full(exc) else exc.strerror or str(exc)
    return BuildError(f"{what}: {cause}")


@contextmanager
def explaining(cache: Path | None) -> Iterator[None]:
    """Around a build: a tool's error or an OSError that is about space (and does not say
    where yet) names the full filesystem (see :func:`places`)."""
    try:
        yield
    except CommandError as error:
        better = explained_command(error, places(cache))
        if better is error:
            raise
        raise better from None
    except BuildahpyError as error:
        # an OSError in the recipe's own code (writing below image.rootfs() itself)
        if is_explained(str(error)) or not space.is_full(error.__cause__ or error):
            raise
        raise BuildError(f"{error}; {space.no_space_left(places(cache))}") from error.__cause__
    except OSError as error:
        if not space.is_full(error):
            raise
        what = f"cannot write {error.filename}" if error.filename else "cannot write"
        raise explained_write(what, error, places(cache)) from None
