"""What one build is (its result) and what exists while it runs (its context).

The plan is what was asked for (plan.py, frozen); the context holds the run state: the working
container, the mounted rootfs and the base's packages (known from the mount on), the specs the
recipe installed and the image paths it edited so far.
"""

from __future__ import annotations

from contextlib import ExitStack

import attrs

from buildahpy.api.image import Image
from buildahpy.api.recipe import Recipe
from buildahpy.build import sizes
from buildahpy.host import cache
from buildahpy.host.rootfs import RootFS
from buildahpy.plan.packages import Package
from buildahpy.plan.plan import Options, Plan
from buildahpy.plan.timestamp import Timestamp


@attrs.frozen
class BuildResult:
    recipe: str
    tag: str
    image_id: str
    size: int
    packages: tuple[str, ...]
    seconds: float
    report: sizes.SizeReport | None = None


@attrs.frozen
class Extras:
    """What the fleet decided for this build: the base image (pinned to an id), the inputs digest
    to record, and the shared cache's metadata snapshot (None: dnf's own cache in the image)."""

    base_image: str | None = None
    inputs: str = ""
    cache: cache.Snapshot | None = None


NO_EXTRAS = Extras()


@attrs.define
class Context:
    """Run state of one build (the plan is what was asked; this is what exists)."""

    recipe: Recipe
    plan: Plan
    stack: ExitStack
    env: dict[str, str]
    container: str = ""
    root: RootFS | None = None
    image: Image | None = None
    pending: list[str] = attrs.Factory(list)
    packages: tuple[str, ...] = ()
    image_id: str = ""
    tagged: bool = False
    base_names: list[str] | None = None  # set by build.record_base right after the mount
    requested: list[str] = attrs.Factory(list)  # specs installed and not removed again
    satisfied: dict[str, list[str]] = attrs.Factory(dict)  # spec -> packages, final rpmdb
    touched: set[str] = attrs.Factory(set)  # image paths the recipe wrote, copied or linked
    hidden: list[str] = attrs.Factory(list)
    pruned: list[Package] = attrs.Factory(list)
    installed: dict[str, Package] = attrs.Factory(dict)
    report: sizes.SizeReport | None = None
    timestamp: Timestamp | None = None  # the image's time, decided once its packages are final
    options: Options = attrs.Factory(Options)
    extras: Extras = attrs.Factory(Extras)

    @property
    def rootfs(self) -> RootFS:
        assert self.root is not None, "rootfs used before mount"
        return self.root

    @property
    def base_packages(self) -> list[str]:
        """The packages the base image came with (none for scratch)."""
        assert self.base_names is not None, "base packages used before the base was mounted"
        return self.base_names
