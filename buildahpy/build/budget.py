"""A recipe's size budget (``max_size=``, ``max_growth=``), checked before the commit, so a build
over it fails with the previous image still under the tag.

The size is the image's one size (the table's and the size report's: `podman images`), of the
image committed under its pending name, before the tag moves; the image it replaces, the one
under the tag now, is measured the same way, and its packages are compared with the new ones
(plan/imagediff.py) to say what grew.
Host binaries: buildah and rpm (through image_facts.py), only when a budget is set.
"""

from __future__ import annotations

from collections.abc import Sequence

from buildahpy.api.budget import Budget
from buildahpy.build.context import Context
from buildahpy.build.diff import signed
from buildahpy.build.image_facts import ImageFacts, read_image
from buildahpy.build.sizes import human_size, installed_bytes
from buildahpy.errors import BuildError
from buildahpy.host import buildah
from buildahpy.log import step
from buildahpy.plan import imagediff
from buildahpy.plan.imagediff import PackageChange

_SHOWN = 3  # largest packages and growths named in the message


def _growth(change: PackageChange) -> str:
    """'busybox added +1.2 MB', 'bash upgraded 5.2.15-1.fc40.x86_64 -> 5.2.21-1.fc40.x86_64
    +3 kB'."""
    versions = ""
    if change.old and change.new:
        was, now = (v.removeprefix(f"{change.name}-") for v in (change.old, change.new))
        versions = f" {was} -> {now}"
    return f"{change.name} {change.kind}{versions} {signed(change.delta)}"


def _grown(changes: Sequence[PackageChange]) -> str:
    top = imagediff.top_growth(changes, _SHOWN)
    if not top:
        return "no package grew (the growth is in files outside the packages)"
    return ", ".join(_growth(change) for change in top)


def budget_failure(
    budget: Budget,
    size: int,
    largest: Sequence[tuple[str, int]],
    previous: tuple[str, int] | None,
    changes: Sequence[PackageChange] = (),
) -> str | None:
    """The one line saying how the image breaks its budget, or None when it keeps to it.
    ``previous`` is the image under the tag (its name, its size), None when there is none."""
    given = dict(budget.given)
    broken = []
    if budget.max_size is not None and size > budget.max_size:
        broken.append(f"{human_size(size)} is over max_size {given['max_size']}")
    if budget.max_growth is not None and previous is not None:
        name, before = previous
        growth = size - before
        if growth > budget.max_growth.allowed(before):
            share = f" ({growth / before:+.1%})" if before else ""
            broken.append(
                f"it grew {signed(growth)}{share} against {name} ({human_size(before)}), "
                f"over max_growth {given['max_growth']}"
            )
    if not broken:
        return None
    top = ", ".join(f"{n} {human_size(s)}" for n, s in largest[:_SHOWN]) or "-"
    message = f"over its size budget: {'; '.join(broken)}; largest packages: {top}"
    if previous is not None:
        message += f"; what grew: {_grown(changes)}"
    return message + "; the tag was not moved"


def _previous(ctx: Context) -> ImageFacts | None:
    image_id = buildah.image_id(ctx.plan.tag)
    return None if image_id is None else read_image(image_id)


def check_budget(ctx: Context, size: int) -> None:
    """Fail the build, before the tag moves, when the committed image (``size`` bytes) breaks
    its budget; the unwind then removes it."""
    budget = ctx.recipe.budget
    if budget.empty or ctx.report is None:
        return
    with step("budget"):
        largest = ctx.report.largest
        over_size = budget.max_size is not None and size > budget.max_size
        previous = _previous(ctx) if budget.max_growth is not None or over_size else None
        before, changes = None, list[PackageChange]()
        if previous is not None:
            before = (f"{ctx.plan.tag} {previous.image_id[:12]}", previous.image_bytes)
            changes = imagediff.package_changes(previous.packages, ctx.rpmdb, installed_bytes)
        failure = budget_failure(budget, size, largest, before, changes)
    if failure:
        raise BuildError(failure)
