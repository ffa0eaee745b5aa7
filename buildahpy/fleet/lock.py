"""``buildahpy lock FILE...``: every recipe of each file resolved, nothing built, and the result
written to ``FILE.lock.json`` (format: plan/lockfile.py; resolution: build/lock.py).

Reads each repository's metadata once per release (repomd.xml revision, primary.xml) and its
keys (gpgkey=) with urllib. Host binaries: those of build/lock.py.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from buildahpy.api.recipe import Recipe, load_files
from buildahpy.build import lock as resolver
from buildahpy.errors import BuildahpyError, RecipeError
from buildahpy.host import buildah, repodata, repomd
from buildahpy.log import get_logger, step
from buildahpy.plan import lockfile, pgp
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.lockfile import Lock, LockedRepo, RecipeLock
from buildahpy.plan.plan import Options, repos_of, target_of
from buildahpy.plan.repos import Repo, RepoFile, dnf_vars, enabled_repos


class Repositories:
    """The enabled repositories of one release, their revision, packages and keys."""

    def __init__(self, files: Sequence[RepoFile], releasever: str) -> None:
        self.repos: list[Repo] = enabled_repos(files, dnf_vars(releasever))
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


def base_id(recipe: Recipe) -> str | None:
    if not recipe.base:
        return None
    found = buildah.image_id(recipe.base)
    if found is None:
        raise RecipeError(
            f"cannot lock {recipe.name}: its base image {recipe.base} is not here; build it first"
            " (a lock pins the base by its image id)"
        )
    return found


def lock_files(files: Sequence[Path], options: Options, host: HostRelease, flavour: str) -> int:
    """Write each file's lock; return how many recipes were locked."""
    recipes = load_files(list(files))
    by_release: dict[str, Repositories] = {}
    count = 0
    for path in files:
        entries: dict[str, RecipeLock] = {}
        used: dict[str, Repositories] = {}
        for recipe in (r for r in recipes if r.file.resolve() == path.resolve()):
            release = target_of(recipe, options, host).releasever
            chosen = repos_of(recipe, options, host).files  # --repo-file, the host's or a preset
            if release not in by_release:
                with step("read repository metadata", release=release):
                    by_release[release] = Repositories(chosen, release)
            repos = used[release] = by_release[release]
            with step("resolve", recipe=recipe.name):
                entries[recipe.name] = resolver.recipe_lock(
                    recipe, options, host, flavour, base_id(recipe), repos.repos, repos.metadata
                )
        lock = Lock(
            repos=tuple({r.id: r for u in used.values() for r in u.locked}.values()),
            keys={k: v for u in used.values() for k, v in u.keys.items()},
            recipes=entries,
        )
        write(lockfile.lock_path(path), lockfile.dumps(lock))
        count += len(entries)
    return count


def write(path: Path, text: str) -> None:
    """Whole or not at all: a reader never sees half a lock."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text(text)
    os.replace(partial, path)
    get_logger().info("lock written", path=str(path))
