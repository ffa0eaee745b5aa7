"""``buildahpy lock FILE...``: every recipe of each file resolved, nothing built, and the result
written to ``FILE.lock.json`` (format: plan/lockfile.py; resolution: build/lock.py).

Reads each repository's metadata once per release (repomd.xml revision, primary.xml) and its
keys (gpgkey=) with urllib. Host binaries: those of build/lock.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from buildahpy.api.recipe import Recipe, load_files
from buildahpy.build import lock as resolver
from buildahpy.errors import BuildahpyError, RecipeError
from buildahpy.host import atomic, buildah, repodata, repomd
from buildahpy.log import get_logger, step
from buildahpy.plan import arches, lockfile, pgp
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.lockfile import Lock, LockedRepo, RecipeLock
from buildahpy.plan.plan import Options, repos_of, target_of
from buildahpy.plan.repos import Repo, RepoFile, dnf_vars, enabled_repos


class Repositories:
    """The enabled repositories of one release, their revision, packages and keys."""

    def __init__(self, files: Sequence[RepoFile], releasever: str, arch: str = "") -> None:
        variables = dnf_vars(releasever)
        if arch:  # what dnf --forcearch substitutes (every arch buildahpy knows is its basearch)
            variables = {**variables, "arch": arch, "basearch": arch}
        self.repos: list[Repo] = enabled_repos(files, variables)
        revisions = repomd.revisions(self.repos)
        unknown = [rid for rid, rev in revisions.items() if rev is None]
        if unknown:
            raise BuildahpyError(f"cannot read the metadata of repository {unknown[0]!r}")
        self.revisions = {rid: str(rev) for rid, rev in revisions.items()}
        self.metadata = {repo.id: repodata.packages(repo) for repo in self.repos}
        self.keys: dict[str, str] = {}
        self.locked: list[LockedRepo] = [self._locked(repo) for repo in self.repos]

    def _locked(self, repo: Repo) -> LockedRepo:
        section = dict(repo.section)
        fingerprints = []
        for url in section.get("gpgkey", "").replace(",", " ").split():
            try:
                found = pgp.primary_fingerprints(repodata.fetch(url, repo))
            except (OSError, ValueError) as exc:
                raise BuildahpyError(
                    f"repository {repo.id!r}: cannot read key {url}: {exc}"
                ) from None
            for fingerprint in found:
                self.keys[fingerprint] = url
            fingerprints += found
        gpgcheck = section.get("gpgcheck", "0").strip() not in ("0", "false", "False", "no")
        return LockedRepo(
            repo.id,
            resolver_url(repo),
            self.revisions[repo.id],
            gpgcheck,
            tuple(sorted(fingerprints)),
        )


def resolver_url(repo: Repo) -> str:
    return repodata.base_url(repo)


def base_id(recipe: Recipe, arch: str = "") -> str | None:
    """The id of the recipe's base image; a multi-arch recipe's ``<base tag>-<arch>``."""
    if not recipe.base:
        return None
    tag = arches.arch_tag(recipe.base, arch) if arch else recipe.base
    found = buildah.image_id(tag)
    if found is None:
        raise RecipeError(
            f"cannot lock {recipe.name}: its base image {tag} is not here; build it first"
            " (a lock pins the base by its image id)"
        )
    return found


def lock_files(files: Sequence[Path], options: Options, host: HostRelease, flavour: str) -> int:
    """Write each file's lock; return how many recipes were locked."""
    recipes = load_files(list(files))
    by_release: dict[tuple[str, str], Repositories] = {}
    count = 0
    for path in files:
        entries: dict[str, RecipeLock] = {}
        used: dict[tuple[str, str], Repositories] = {}
        for recipe in (r for r in recipes if r.file.resolve() == path.resolve()):
            parts = []
            for each, base in _targets(recipe, options):
                release = target_of(recipe, each, host).releasever
                key = (release, each.arch)
                if key not in by_release:
                    chosen = repos_of(recipe, each, host).files  # --repo-file, the host's, a preset
                    with step("read repository metadata", release=release, arch=each.arch):
                        by_release[key] = Repositories(chosen, release, each.arch)
                repos = used[key] = by_release[key]
                with step("resolve", recipe=recipe.name, arch=each.arch):
                    parts.append(
                        resolver.recipe_lock(
                            recipe, each, host, flavour, base, repos.repos, repos.metadata
                        )
                    )
            entries[recipe.name] = _merged(parts, len(parts) > 1)
        lock = Lock(
            repos=tuple({(r.id, r.url): r for u in used.values() for r in u.locked}.values()),
            keys={k: v for u in used.values() for k, v in u.keys.items()},
            recipes=entries,
        )
        write(lockfile.lock_path(path), lockfile.dumps(lock))
        count += len(entries)
    return count


def _targets(recipe: Recipe, options: Options) -> list[tuple[Options, str | None]]:
    """Each architecture the recipe is locked for (as a build would choose them: --arch, else
    its arches=), with the id of its base image: a multi-arch recipe's is ``<base>-<arch>``."""
    chosen = arches.build_arches(options.arches, recipe.arches)
    if len(chosen) <= 1:
        each = attrs.evolve(options, arch=chosen[0]) if chosen else options
        return [(each, base_id(recipe))]
    return [(attrs.evolve(options, arch=a), base_id(recipe, a)) for a in chosen]


def _merged(parts: Sequence[RecipeLock], multi: bool) -> RecipeLock:
    """One entry of every architecture's packages (the inputs do not depend on the arch)."""
    first = parts[0]
    found = {arch: p for part in parts for arch, p in part.arches.items()}
    bases = (
        {a: part.base for part in parts for a in part.arches}
        if multi and first.base != "scratch"
        else {}
    )
    return attrs.evolve(first, arches=found, bases=bases)


def write(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a lock."""
    atomic.write_text(path, text)
    get_logger().info("lock written", path=str(path))
