"""What changed between two images, as data: packages (added, removed, upgraded, downgraded,
rebuilt, with the size each one adds), the OCI config, the labels and, if asked, the files.

Pure: the facts come from build/image_facts.py (the images' rpmdbs, configs and trees), the
text from build/diff.py. Versions are ordered as rpm orders them (plan/specs.vercmp).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import attrs

from buildahpy.plan.packages import Header, Package
from buildahpy.plan.specs import vercmp

ADDED, REMOVED = "added", "removed"
UPGRADED, DOWNGRADED, REBUILT = "upgraded", "downgraded", "rebuilt"
KINDS = (ADDED, REMOVED, UPGRADED, DOWNGRADED, REBUILT)
# The OCI config fields compared one by one (Env, ExposedPorts and Volumes by their items).
CONFIG_FIELDS = (
    ("Entrypoint", "entrypoint"),
    ("Cmd", "cmd"),
    ("User", "user"),
    ("WorkingDir", "workdir"),
    ("StopSignal", "stop-signal"),
)


@attrs.frozen
class PackageChange:
    name: str
    kind: str  # one of KINDS
    old: str  # name-[epoch:]version-release.arch before, "" when added
    new: str  # after, "" when removed
    old_size: int
    new_size: int

    @property
    def delta(self) -> int:
        return self.new_size - self.old_size


@attrs.frozen
class FieldChange:
    key: str  # 'entrypoint', 'env PATH', 'port 80/tcp', a label's name
    old: str | None  # None: not set
    new: str | None


@attrs.frozen
class FileChange:
    path: str
    what: tuple[str, ...]  # 'added', 'removed', or what differs: content, mode, owner, xattrs
    old_size: int | None = None
    new_size: int | None = None
    old_mode: int | None = None
    new_mode: int | None = None


@attrs.frozen
class Side:
    """One of the two images, as the diff names it."""

    reference: str
    image_id: str
    image_bytes: int  # the image's size, as `podman images` and the size report show it
    rpmdb: str  # where its rpmdb was found, "" for none
    packages: int


@attrs.frozen
class ImageDiff:
    old: Side
    new: Side
    packages: tuple[PackageChange, ...]
    config: tuple[FieldChange, ...]
    labels: tuple[FieldChange, ...]
    files: tuple[FileChange, ...] | None = None  # None: not compared (no --files)

    @property
    def package_delta(self) -> int:
        return sum(change.delta for change in self.packages)

    def counts(self) -> dict[str, int]:
        return {kind: sum(c.kind == kind for c in self.packages) for kind in KINDS}

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "old": attrs.asdict(self.old),
            "new": attrs.asdict(self.new),
            "size_delta": self.new.image_bytes - self.old.image_bytes,
            "package_size_delta": self.package_delta,
            "packages": [attrs.asdict(c) | {"delta": c.delta} for c in self.packages],
            "config": [attrs.asdict(c) for c in self.config],
            "labels": [attrs.asdict(c) for c in self.labels],
        }
        if self.files is not None:
            out["files"] = [attrs.asdict(c) for c in self.files]
        return out


def evr(header: Header) -> str:
    epoch = f"{header.epoch}:" if header.epoch else ""
    return f"{epoch}{header.version}-{header.release}"


def compare_evr(a: Header, b: Header) -> int:
    """rpm's order of two packages' epoch, version and release: -1, 0 or 1."""
    if a.epoch != b.epoch:
        return -1 if a.epoch < b.epoch else 1
    return vercmp(a.version, b.version) or vercmp(a.release, b.release)


def _label(package: Package) -> str:
    header = package.header
    return f"{package.name}-{evr(header)}.{header.arch}" if header.version else package.nevra


def _kind(old: Package, new: Package) -> str | None:
    order = compare_evr(old.header, new.header)
    if order:
        return UPGRADED if order < 0 else DOWNGRADED
    if old.header.arch != new.header.arch:
        return REBUILT
    # the same NEVRA from another build (a rebuild, another repository): its header differs
    same = (old.header.sha256header, old.header.sigmd5) == (
        new.header.sha256header,
        new.header.sigmd5,
    )
    return None if same else REBUILT


def package_changes(
    old: Mapping[str, Package], new: Mapping[str, Package], size: Callable[[Package], int]
) -> list[PackageChange]:
    """Every package whose presence, version or build differs, by name; ``size`` says what one
    package weighs (build/sizes.installed_bytes: the bytes of its files on disk)."""
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is None and after is not None:
            changes.append(PackageChange(name, ADDED, "", _label(after), 0, size(after)))
        elif after is None and before is not None:
            changes.append(PackageChange(name, REMOVED, _label(before), "", size(before), 0))
        elif before is not None and after is not None and (kind := _kind(before, after)):
            changes.append(
                PackageChange(name, kind, _label(before), _label(after), size(before), size(after))
            )
    return changes


def _text(value: object) -> str | None:
    if value is None or value == "" or value == []:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _items(
    prefix: str, old: Mapping[str, str | None], new: Mapping[str, str | None]
) -> list[FieldChange]:
    return [
        FieldChange(f"{prefix}{key}", old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def _env(config: Mapping[str, object]) -> dict[str, str | None]:
    entries = config.get("Env")
    pairs = (
        (str(item).partition("=") for item in entries or ()) if isinstance(entries, list) else ()
    )
    return {key: value for key, _eq, value in pairs}


def _keys(config: Mapping[str, object], field: str) -> dict[str, str | None]:
    value = config.get(field) or {}
    return {str(key): "" for key in value} if isinstance(value, Mapping | list) else {}


def config_changes(old: Mapping[str, object], new: Mapping[str, object]) -> list[FieldChange]:
    """The OCI config (``buildah inspect``'s OCIv1 ``config``), labels aside."""
    changes = [
        FieldChange(name, _text(old.get(field)), _text(new.get(field)))
        for field, name in CONFIG_FIELDS
        if _text(old.get(field)) != _text(new.get(field))
    ]
    changes += _items("env ", _env(old), _env(new))
    for field, prefix in (("ExposedPorts", "port "), ("Volumes", "volume ")):
        was, now = _keys(old, field), _keys(new, field)
        changes += [
            FieldChange(
                f"{prefix}{key}", "set" if key in was else None, "set" if key in now else None
            )
            for key in sorted(was.keys() ^ now.keys())
        ]
    return changes


def label_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[FieldChange]:
    return _items("", dict(old), dict(new))


def file_changes(
    differences: Sequence[tuple[str, Sequence[str]]],
    old: Mapping[str, tuple[int, int]],
    new: Mapping[str, tuple[int, int]],
) -> list[FileChange]:
    """host/imagetree.differences' (path, kinds), with each side's (mode, size); a change of
    mtime alone is left out: a build clamps every new file's mtime to the image's time, which
    moves whenever any package does, so it says nothing about the file."""
    changes = []
    for path, kinds in differences:
        what = [k for k in kinds if k != "mtime"]
        if "only in the first" in what:
            what = [REMOVED]
        elif "only in the second" in what:
            what = [ADDED]
        if not what:
            continue
        was, now = old.get(path), new.get(path)
        changes.append(
            FileChange(
                path,
                tuple(what),
                old_size=was[1] if was else None,
                new_size=now[1] if now else None,
                old_mode=was[0] if was else None,
                new_mode=now[0] if now else None,
            )
        )
    return changes


def top_growth(changes: Sequence[PackageChange], count: int = 5) -> list[PackageChange]:
    """The changes that added the most bytes, largest first."""
    grown = sorted((c for c in changes if c.delta > 0), key=lambda c: (-c.delta, c.name))
    return grown[:count]
