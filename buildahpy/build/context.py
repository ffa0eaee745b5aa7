"""What one build is (its result), what was decided before it started (its setup), and what
exists while it runs (its context).

The setup is frozen: the recipe, the options, the plan (cachedir and working container's name
included) and what the fleet decided. The context exists from the moment the rootfs is mounted
and the base's packages are read, so no step has to ask whether they are there yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from typing import TYPE_CHECKING

import attrs

from buildahpy.api.image import Image
from buildahpy.api.recipe import Recipe
from buildahpy.build import sizes
from buildahpy.host import cache
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.contents import Content
from buildahpy.plan.packages import Package
from buildahpy.plan.plan import Options, Plan
from buildahpy.plan.timestamp import Timestamp

if TYPE_CHECKING:
    from buildahpy.build.engine import LiveEngine


@attrs.frozen
class BuildResult:
    recipe: str
    tag: str
    image_id: str
    size: int
    packages: tuple[str, ...]
    seconds: float
    report: sizes.SizeReport | None = None
    contents: tuple[Content, ...] = ()  # every package with its bytes and why it is there
    # a multi-arch recipe's images, (arch, image id); image_id is then its manifest list's
    arches: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Extras:
    """What the fleet decided for this build: the base image (pinned to an id), the inputs digest
    to record, and the shared cache's metadata snapshot (None: dnf's own cache in the image)."""

    base_image: str | None = None
    inputs: str = ""
    cache: cache.Snapshot | None = None


NO_EXTRAS = Extras()


@attrs.frozen
class Setup:
    """Everything decided before the working container exists; nothing here changes later."""

    recipe: Recipe
    options: Options
    plan: Plan
    extras: Extras
    env: Mapping[str, str]  # the private environment dnf and rpm run with
    stack: ExitStack  # the undo of every acquire, in reverse order
    container: str  # the working container's name, claimed by a lock (gc.claim)
    locked: tuple[str, ...] = ()  # --locked: the checked local package files (build/locked.py)


@attrs.define
class Context:
    """Run state of one build, from the mount on (``setup`` is what was decided before)."""

    setup: Setup
    rootfs: RootFS
    base_packages: tuple[str, ...]  # what the base image came with (none for scratch)
    engine: LiveEngine = attrs.field(init=False)  # carries out the recipe's calls
    image: Image = attrs.field(init=False)  # the recipe's ``image``, on that engine
    batched: list[str] = attrs.Factory(list)  # specs asked for, not yet given to dnf
    requested: list[str] = attrs.Factory(list)  # specs installed and not removed again
    satisfied: dict[str, list[str]] = attrs.Factory(dict)  # spec -> packages, final rpmdb
    touched: set[str] = attrs.Factory(set)  # image paths the recipe wrote, copied or linked
    hidden: list[str] = attrs.Factory(list)  # large providers kept out of the transactions
    pruned: list[Package] = attrs.Factory(list)
    rpmdb: dict[str, Package] = attrs.Factory(dict)  # the finished image's packages, by name
    rpmdb_read: bool = False  # rpmdb and satisfied are read (pipeline.read_rpmdb)
    packages: tuple[str, ...] = ()  # their name-version-release.arch, sorted
    report: sizes.SizeReport | None = None
    contents: tuple[Content, ...] = ()  # plan/contents.py: the packages, their bytes and chains
    image_id: str = ""
    tagged: bool = False
    release_added: str = ""  # the release package the build added (release.py), if any
    timestamp: Timestamp | None = None  # the image's time, decided once its packages are final
    locked_installed: bool = False  # --locked: the lock's files are in (build/locked.py)

    @property
    def recipe(self) -> Recipe:
        return self.setup.recipe

    @property
    def options(self) -> Options:
        return self.setup.options

    @property
    def plan(self) -> Plan:
        return self.setup.plan

    @property
    def extras(self) -> Extras:
        return self.setup.extras

    @property
    def env(self) -> Mapping[str, str]:
        return self.setup.env

    @property
    def stack(self) -> ExitStack:
        return self.setup.stack

    @property
    def container(self) -> str:
        return self.setup.container
