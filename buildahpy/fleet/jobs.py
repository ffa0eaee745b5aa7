"""What the scheduler decides before a build starts: up to date or not, and the build's job.

For a recipe whose base is settled it computes the inputs digest (inputs.py) and compares it with
the label on the image under the recipe's tag; a match is "up-to-date" and nothing runs. Otherwise
it assembles the worker's Job: the base pinned to an image id, the digest to record, and the
shared cache's metadata snapshot for the recipe's release (made with one ``dnf makecache`` per run
and release when the repositories changed, see cache.py).

Host binaries: dnf (makecache, through tools.py), buildah and podman (through buildah.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from buildahpy.api.recipe import Recipe
from buildahpy.build.context import Extras
from buildahpy.build.multiarch import ArchPart
from buildahpy.build.packages import retries_note
from buildahpy.errors import BuildahpyError, UsageError
from buildahpy.fleet import inputs
from buildahpy.fleet.graph import TARGET, Node
from buildahpy.fleet.worker import Job
from buildahpy.host import buildah, cache, dnf, manifest, repomd, workdir
from buildahpy.host.tools import run
from buildahpy.log import get_logger, step
from buildahpy.plan import arches
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.labels import LABEL_INPUTS, LABEL_PACKAGES
from buildahpy.plan.plan import Options, make_plan, repos_of, target_of
from buildahpy.plan.repos import RepoFile, dnf_vars, enabled_repos

if TYPE_CHECKING:
    from buildahpy.fleet.remote import Remote


@attrs.frozen
class LocalImage:
    id: str
    digest: str
    size: int
    labels: Mapping[str, str]

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(self.labels.get(LABEL_PACKAGES, "").split())


def index_images(raw: Sequence[Mapping[str, object]]) -> dict[str, LocalImage]:
    """tag -> image, from ``podman image inspect``."""
    found = {}
    for entry in raw:
        labels = entry.get("Labels") or {}
        size = entry.get("Size")
        image = LocalImage(
            id=str(entry.get("Id", "")),
            digest=str(entry.get("Digest", "")),
            size=size if isinstance(size, int) else 0,
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        )
        names = entry.get("RepoTags") or []
        for name in names if isinstance(names, list) else []:
            found[str(name)] = image
    return found


@attrs.frozen
class Settings:
    """The command line's fleet options."""

    jobs: int = 1
    rebuild: bool = False
    cache: bool = True
    cache_dir: Path | None = None
    verbose: bool = False
    base_timeout: float = 1800.0  # how long to wait for a base another shard builds


@attrs.frozen
class Waiting:
    """A base another shard builds: ask the registry again until it has the image."""

    reference: str
    seconds: float
    owner: str  # who builds it, for the error after ``seconds``


@attrs.frozen
class Decision:
    up_to_date: LocalImage | None = None
    job: Job | None = None
    inputs: str | None = None
    remote: bool = False  # up_to_date is in the registry, not on this machine
    wait: Waiting | None = None


class Preparer:
    """Memoises what is the same for many recipes: revisions per release, snapshots, bases."""

    def __init__(
        self,
        options: Options,
        host: HostRelease,
        flavour: str,
        settings: Settings,
        existing: Mapping[str, LocalImage],
        remote: Remote | None = None,
    ) -> None:
        self.options, self.host, self.flavour = options, host, flavour
        self.settings, self.existing, self.remote = settings, dict(existing), remote
        # by release and the .repo files read (host, --repo-file or a family's preset)
        self._revisions: dict[tuple[str, tuple[RepoFile, ...]], dict[str, str | None]] = {}
        self._snapshots: dict[tuple[str, tuple[RepoFile, ...]], cache.Snapshot | None] = {}
        self._pulled: dict[str, str] = {}

    def releasever(self, recipe: Recipe) -> str:
        return target_of(recipe, self.options, self.host).releasever

    def repo_files(self, recipe: Recipe) -> tuple[RepoFile, ...]:
        return repos_of(recipe, self.options, self.host).files

    def revisions(self, releasever: str, files: tuple[RepoFile, ...]) -> dict[str, str | None]:
        if (releasever, files) not in self._revisions:
            variables = dnf_vars(releasever)
            repos = enabled_repos(files, variables)
            self._revisions[releasever, files] = repomd.revisions(repos)
        return self._revisions[releasever, files]

    def refresh(self, references: Sequence[str]) -> None:
        """Read these tags again: another run on this storage has just settled them."""
        for reference in references:
            self.existing.pop(reference, None)
            self._pulled.pop(reference, None)
        self.existing.update(index_images(buildah.inspect_images(list(references))))

    def external_base(self, reference: str) -> str:
        """The id of a base image no recipe of the run builds; pulled once if it is missing."""
        if reference not in self._pulled:
            local = self.existing.get(reference)
            self._pulled[reference] = local.id if local else buildah.pull(reference)
        return self._pulled[reference]

    def decide(self, node: Node, base_id: str | None) -> Decision:
        recipe = node.recipe
        targets = arches.build_arches(self.options.arches, recipe.arches)
        if len(targets) > 1:
            return self.decide_arches(node, targets)
        options = attrs.evolve(self.options, arch=targets[0]) if targets else self.options
        digest, current = self.assess(node, base_id, options, self.existing)
        if current is not None:
            return Decision(up_to_date=current, inputs=digest)
        checked = digest is not None and not (self.settings.rebuild and node.role == TARGET)
        if checked and digest is not None and self.remote is not None:
            owned = self.remote.owns(recipe.name)  # else asked again each time it is polled
            published = self.remote.published(recipe, digest, again=not owned)
            if published is not None:
                return Decision(up_to_date=published, inputs=digest, remote=True)
            if not owned:
                return Decision(wait=self.remote.waiting(recipe), inputs=digest)
        if base_id is not None and self.remote is not None:
            self.remote.fetch(base_id)  # a base only the registry has so far
        job = Job(
            recipe.name, options, self.host, self.flavour, self.extras(recipe, base_id, digest)
        )
        return Decision(job=job, inputs=digest)

    def assess(
        self,
        node: Node,
        base_id: str | None,
        options: Options,
        existing: Mapping[str, LocalImage],
        tag: str = "",
    ) -> tuple[str | None, LocalImage | None]:
        """The inputs digest of one image, and the image under ``tag`` (default: the recipe's)
        when it has them (up to date here)."""
        recipe = node.recipe
        releasever = self.releasever(recipe)
        revisions = self.revisions(releasever, self.repo_files(recipe))
        static = inputs.recipe_inputs(recipe, options, self.host, self.flavour)
        digest = inputs.inputs_digest(static, base_id, revisions)
        current = existing.get(tag or recipe.tag)
        checked = digest is not None and not (self.settings.rebuild and node.role == TARGET)
        if checked and current is not None and current.labels.get(LABEL_INPUTS) == digest:
            return digest, current
        return digest, None

    def extras(self, recipe: Recipe, base_id: str | None, digest: str | None) -> Extras:
        """What a build that has to run gets: its base, its inputs, the shared cache."""
        releasever = self.releasever(recipe)
        revisions = self.revisions(releasever, self.repo_files(recipe))
        return Extras(
            base_image=base_id,
            inputs=digest or "",
            cache=self.snapshot(recipe, releasever, revisions) if self.settings.cache else None,
        )

    def decide_arches(self, node: Node, targets: tuple[str, ...]) -> Decision:
        """A multi-arch recipe: each architecture's image is up to date or built on the base of
        its architecture (``<base tag>-<arch>``); up to date as a whole when all are and the
        recipe's tag is their list."""
        recipe = node.recipe
        if node.base_image:
            raise UsageError(
                f"{recipe.name}: a multi-arch recipe builds on scratch or on another recipe,"
                f" not on the image {node.base_image}"
            )
        named = [arches.arch_tag(recipe.tag, arch) for arch in targets]
        existing = index_images(buildah.inspect_images(named))
        parts, digests = [], []
        for arch, tag in zip(targets, named, strict=True):
            base_id = self.arch_base(recipe, arch)
            options = attrs.evolve(self.options, arch=arch)
            digest, current = self.assess(node, base_id, options, existing, tag)
            extras = Extras() if current else self.extras(recipe, base_id, digest)
            parts.append(ArchPart(arch, extras, reuse=current.id if current else ""))
            digests.append(digest)
        known = None if None in digests else hashlib.sha256(repr(digests).encode()).hexdigest()
        listed = manifest.inspect(recipe.tag)
        fresh = all(part.reuse for part in parts) and listed is not None
        # and the tag is still the list of exactly these images
        if fresh and manifest.digests(listed) == sorted(existing[tag].digest for tag in named):
            return Decision(up_to_date=existing[named[0]], inputs=known)
        job = Job(recipe.name, self.options, self.host, self.flavour, parts=tuple(parts))
        return Decision(job=job, inputs=known)

    def arch_base(self, recipe: Recipe, arch: str) -> str | None:
        """The id of the base recipe's image for ``arch``; None on scratch."""
        if recipe.base is None:
            return None
        found = buildah.image_id(arches.arch_tag(recipe.base, arch))
        if found is None:
            raise UsageError(
                f"{recipe.name}: its base {recipe.base} has no {arch} image"
                f" ({arches.arch_tag(recipe.base, arch)}); build the base for {arch} too (arches=)"
            )
        return found

    def snapshot(
        self, recipe: Recipe, releasever: str, revisions: Mapping[str, str | None]
    ) -> cache.Snapshot | None:
        """The metadata snapshot for this release; None (dnf's own cache) when a repository's
        revision is unknown or makecache fails: the build then fetches for itself."""
        repo_files = self.repo_files(recipe)
        if (releasever, repo_files) in self._snapshots:
            return self._snapshots[releasever, repo_files]
        found: cache.Snapshot | None = None
        if revisions and all(revisions.values()):
            root = cache.cache_root(self.settings.cache_dir) / self.flavour
            files = {f.name: f.text for f in repo_files}
            config = {**files, **{f"repo:{k}": str(v) for k, v in revisions.items()}}
            key = cache.snapshot_key(self.flavour, releasever, config)
            try:
                found = cache.find_snapshot(root, key) or cache.make_snapshot(
                    root, key, lambda staging: self.makecache(recipe, staging)
                )
            except (BuildahpyError, OSError) as exc:
                get_logger().warning("no shared cache for this release", cause=str(exc))
        self._snapshots[releasever, repo_files] = found
        return found

    def makecache(self, recipe: Recipe, staging: Path) -> None:
        """dnf fetches every repository's metadata into ``staging``, as a build's dnf would."""
        with (
            ExitStack() as stack,
            step("refresh metadata", show=True, release=self.releasever(recipe)) as note,
        ):
            note.detail = f"release {self.releasever(recipe)}"
            plan = make_plan(
                recipe,
                self.options,
                host=self.host,
                dnf_flavour=self.flavour,
                workdir=str(workdir.make(stack)),
                cachedir=str(staging),
            )
            env = workdir.fill(plan, sysusers_helper="")
            scratch = workdir.make(stack)
            dnf.of(plan).prepare_makecache_root(scratch, staging)
            done = run(dnf.makecache_argv(plan, str(scratch)), env=env, hint="dnf makecache failed")
            note.detail += retries_note(dnf.of(plan).download_retries(done))
