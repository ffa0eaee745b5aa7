"""``buildahpy diff A B`` and ``buildahpy why IMAGE PACKAGE``: what changed between two local
images and why a package is in one, read from the images themselves (build/image_facts.py).

Host binaries: buildah and rpm (through image_facts.py). The decisions are plan/imagediff.py's
and plan/minimize.py's; this module reads the images and words the answer.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping

from buildahpy.build import sizes
from buildahpy.build.image_facts import ImageFacts, read_image
from buildahpy.errors import BuildError
from buildahpy.host import imagetree
from buildahpy.plan import imagediff, minimize
from buildahpy.plan.imagediff import FieldChange, FileChange, ImageDiff, PackageChange
from buildahpy.plan.labels import LABEL_BASE_PACKAGES, LABEL_REQUESTED
from buildahpy.plan.packages import RELEASE_FILES, Package

_LONG = 72  # a longer config or label value is cut in the text (JSON has it whole)


def diff_images(old: str, new: str, *, files: bool = False) -> ImageDiff:
    return compare(read_image(old, tree=files), read_image(new, tree=files))


def _side(facts: ImageFacts) -> imagediff.Side:
    return imagediff.Side(
        facts.reference, facts.image_id, facts.image_bytes, facts.rpmdb, len(facts.packages)
    )


def _mode_size(tree: Mapping[str, imagetree.Entry]) -> dict[str, tuple[int, int]]:
    return {path: (entry.mode, entry.size) for path, entry in tree.items()}


def compare(old: ImageFacts, new: ImageFacts) -> ImageDiff:
    files = None
    if old.tree is not None and new.tree is not None:
        found = imagetree.differences(old.tree, new.tree)
        files = imagediff.file_changes(found, _mode_size(old.tree), _mode_size(new.tree))
    return ImageDiff(
        _side(old),
        _side(new),
        tuple(imagediff.package_changes(old.packages, new.packages, sizes.installed_bytes)),
        tuple(imagediff.config_changes(old.config, new.config)),
        tuple(imagediff.label_changes(old.labels, new.labels)),
        None if files is None else tuple(files),
    )


def signed(size: int) -> str:
    return f"+{sizes.human_size(size)}" if size >= 0 else f"-{sizes.human_size(-size)}"


def _short(value: str | None) -> str:
    if value is None:
        return "(unset)"
    return value if len(value) <= _LONG else value[: _LONG - 3] + "..."


def _package_line(change: PackageChange) -> str:
    what = change.new or change.old
    if change.old and change.new:
        what = f"{change.old} -> {change.new}"
    return f"  {change.kind:<10} {what}  {signed(change.delta)}"


def _field_line(change: FieldChange) -> str:
    return f"  {change.key}: {_short(change.old)} -> {_short(change.new)}"


def _file_line(change: FileChange) -> str:
    if change.what == (imagediff.ADDED,) or change.what == (imagediff.REMOVED,):
        mode, size = (
            (change.new_mode, change.new_size)
            if change.what == (imagediff.ADDED,)
            else (change.old_mode, change.old_size)
        )
        shown = f" {oct(stat.S_IMODE(mode))[2:].zfill(4)}" if mode is not None else ""
        if mode is not None and stat.S_ISREG(mode) and size is not None:
            shown += f" {sizes.human_size(size)}"
        return f"  {change.what[0]:<8} {change.path}{shown}"
    detail = list(change.what)
    if "content" in detail and change.old_size != change.new_size:
        detail[detail.index("content")] = (
            f"content ({sizes.human_size(change.old_size or 0)} -> "
            f"{sizes.human_size(change.new_size or 0)})"
        )
    if "mode" in detail and change.old_mode is not None and change.new_mode is not None:
        old, new = (oct(stat.S_IMODE(m))[2:].zfill(4) for m in (change.old_mode, change.new_mode))
        detail[detail.index("mode")] = f"mode {old} -> {new}"
    return f"  {'changed':<8} {change.path}: {', '.join(detail)}"


def _name(side: imagediff.Side) -> str:
    if not side.image_id or side.image_id.startswith(side.reference):
        return side.image_id[:12] or side.reference
    return f"{side.reference} ({side.image_id[:12]})"


def lines(diff: ImageDiff) -> list[str]:
    """The diff as people read it (``--format json`` gives ImageDiff.as_json())."""
    old, new = diff.old, diff.new
    out = [
        f"{_name(old)} -> {_name(new)}",
        f"size: {sizes.human_size(old.image_bytes)} -> "
        f"{sizes.human_size(new.image_bytes)} ({signed(new.image_bytes - old.image_bytes)}); "
        f"packages: {old.packages} -> {new.packages} ({signed(diff.package_delta)})",
    ]
    out += [f"{side.reference}: no rpmdb" for side in (old, new) if not side.rpmdb]
    counts = ", ".join(f"{n} {kind}" for kind, n in diff.counts().items())
    out += [f"packages: {counts}", *(_package_line(c) for c in diff.packages)]
    out += [f"config: {len(diff.config)} changed", *(_field_line(c) for c in diff.config)]
    out += [f"labels: {len(diff.labels)} changed", *(_field_line(c) for c in diff.labels)]
    if diff.files is not None:
        out += [f"files: {len(diff.files)} changed", *(_file_line(c) for c in diff.files)]
    return out


def roots_of(facts: ImageFacts) -> tuple[list[str], dict[str, str], str]:
    """Where the chains start: what the image's labels say the recipe asked for (and what its
    base had), else the packages nothing requires, with a note saying so."""
    labels = facts.labels
    if LABEL_REQUESTED in labels:
        requested = labels[LABEL_REQUESTED].split()
        base = labels.get(LABEL_BASE_PACKAGES, "").split()
        return [*requested, *base], minimize.root_reasons(requested, base), ""
    leaves = minimize.leaves(facts.packages)
    note = (
        f"{facts.reference} does not say what was asked for (no {LABEL_REQUESTED} label): "
        "the chains start at the packages nothing else requires"
    )
    return leaves, dict.fromkeys(leaves, "nothing requires it"), note


def find_package(packages: Mapping[str, Package], wanted: str, image: str) -> str:
    """A package of the image by its name or its name-version-release.arch."""
    if wanted in packages:
        return wanted
    for name, package in packages.items():
        if package.nevra == wanted:
            return name
    raise BuildError(f"{image}: package {wanted!r} is not installed in the image")


def kept_because(package: Package) -> str:
    """Why pruning keeps a package no runtime dependency reaches, where the image shows it."""
    if package.name in minimize.NEVER_PRUNED:
        return f"{', '.join(sorted(minimize.NEVER_PRUNED))} are never pruned"
    owned = [path for path in RELEASE_FILES if any(f[0] == path for f in package.files)]
    if owned:
        return f"it owns {owned[0]}, which says what distribution the image is"
    return ""


def why_lines(image: str, package: str) -> list[str]:
    """The chain that put ``package`` into ``image``, as ``--explain`` words it."""
    facts = read_image(image)
    if not facts.rpmdb:
        raise BuildError(f"{image}: the image has no rpmdb: cannot say why {package!r} is there")
    name = find_package(facts.packages, package, image)
    roots, reasons, note = roots_of(facts)
    reached = minimize.runtime_closure(facts.packages, roots, weak=False)
    if name not in reached:  # a recipe with weak_deps=True: its recommends count too
        reached = minimize.runtime_closure(facts.packages, roots, weak=True)
    out = [note] if note else []
    out.append(f"why {name}: {minimize.why(reached, name, reasons)}")
    if name not in reached and (kept := kept_because(facts.packages[name])):
        out.append(f"  kept: {kept}")
    needers = minimize.required_by(facts.packages, name)
    if needers:
        out.append("  needed at runtime by: " + ", ".join(f"{n} ({c})" for n, c in needers))
    return out
