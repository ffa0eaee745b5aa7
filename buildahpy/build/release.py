"""An image says what it is: the target's release package when nothing else brought one.

glibc pulls the release package in (Requires(pre) basesystem -> setup -> system-release); an
image without glibc (busybox alone) would have no /etc/os-release, and scanners could not tell
its distribution, so the advisories that apply to it. Host binaries: dnf (through engine.py).
"""

from __future__ import annotations

from buildahpy.build.context import Context
from buildahpy.build.engine import install_packages
from buildahpy.errors import BuildError, CommandError
from buildahpy.log import get_logger
from buildahpy.plan.packages import RELEASE_FILES


def add_release_package(ctx: Context) -> None:
    """Install the target's release package into an image without /etc/os-release, unless the
    recipe said ``release_package=False``."""
    if not ctx.recipe.release_package or ctx.rootfs.exists(RELEASE_FILES[0]):
        return
    package = ctx.plan.target.release_package
    try:
        install_packages(ctx, [package])
    except CommandError as exc:
        raise BuildError(
            f"the image has no {RELEASE_FILES[0]} and the target's release package {package} "
            f"cannot be installed ({exc.hint}); build with release_package=False to leave it out"
        ) from None
    ctx.release_added = package
    get_logger().info(
        "release package added",
        recipe=ctx.recipe.name,
        package=package,
        why=f"the image had no {RELEASE_FILES[0]} (release_package=False leaves it out)",
    )
