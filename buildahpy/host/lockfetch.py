"""The locked package files on this host: from the shared cache's pool when there, else from
where the lock says they were; each checked against its locked SHA-256, and, where its
repository had gpgcheck=1, its signature against the locked keys only.

Host binaries: rpmkeys (``--import`` into a scratch keyring, ``--checksig``).
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
from collections.abc import Mapping, Sequence
from pathlib import Path

from buildahpy.errors import BuildError, CommandError
from buildahpy.host import repodata
from buildahpy.host.tools import base_env, run
from buildahpy.plan import pgp
from buildahpy.plan.lockfile import Lock, LockedPackage, LockedRepo
from buildahpy.plan.repos import Repo


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _from_pool(pool: Path | None, package: LockedPackage) -> Path | None:
    if pool is None:
        return None
    found = pool / package.repo / "packages" / package.filename
    return found if found.is_file() else None


def fetch_one(package: LockedPackage, repo: Repo, dest: Path, pool: Path | None) -> Path:
    """The package's file in ``dest``; a file the repositories no longer have, or one whose
    content is not what was locked, is an error naming it."""
    target = dest / package.filename
    cached = _from_pool(pool, package)
    if cached is not None and sha256_of(cached) == package.sha256:
        shutil.copyfile(cached, target)
        return target
    try:
        repodata.fetch_to(package.url, repo, target)
    except (OSError, urllib.error.URLError) as exc:
        raise BuildError(
            f"locked package {package.nevra} is gone from repository {package.repo!r} "
            f"(was {package.url}: {getattr(exc, 'reason', exc)}); run buildahpy lock"
        ) from None
    found = sha256_of(target)
    if found != package.sha256:
        raise BuildError(
            f"locked package {package.nevra} from {package.url} has sha256 {found}, "
            f"the lock says {package.sha256}: nothing was installed"
        )
    return target


def fetch_keys(lock: Lock, repos: Mapping[str, Repo], dest: Path) -> list[Path]:
    """The locked keys, read again from their URLs; a key whose fingerprint is not locked is
    never imported."""
    files = []
    by_url = {url: repo for repo in repos.values() for url in _gpgkeys(repo)}
    for fingerprint, url in sorted(lock.keys.items()):
        repo = by_url.get(url) or next(iter(repos.values()))
        data = repodata.fetch(url, repo)
        if fingerprint not in pgp.primary_fingerprints(data):
            raise BuildError(f"key {url} is no longer the locked key {fingerprint}")
        path = dest / f"{fingerprint}.asc"
        path.write_bytes(data)
        files.append(path)
    return files


def _gpgkeys(repo: Repo) -> list[str]:
    return dict(repo.section).get("gpgkey", "").replace(",", " ").split()


def checksig_argv(dbpath: str, files: Sequence[str]) -> list[str]:
    return ["rpmkeys", f"--dbpath={dbpath}", "--checksig", *files]


def import_argv(dbpath: str, keys: Sequence[str]) -> list[str]:
    return ["rpmkeys", f"--dbpath={dbpath}", "--import", *keys]


def check_signatures(files: Sequence[Path], keys: Sequence[Path], scratch: Path) -> None:
    """Every file is signed by one of ``keys`` (imported into a keyring used for nothing else)."""
    if not files:
        return
    dbpath = scratch / "keyring"
    dbpath.mkdir()
    env = base_env({"HOME": str(scratch)})
    if keys:
        run(import_argv(str(dbpath), [str(k) for k in keys]), env=env, hint="rpmkeys --import")
    try:
        output = run(checksig_argv(str(dbpath), [str(f) for f in files]), env=env).stdout
    except CommandError as exc:
        output = exc.stdout
    for path in files:
        line = next((ln for ln in output.splitlines() if ln.startswith(f"{path}:")), "")
        if "signatures OK" not in line:
            verdict = line.split(":", 1)[-1].strip() or "no verdict"
            raise BuildError(
                f"locked package {path.name} is not signed by a locked key ({verdict}): "
                "nothing was installed"
            )


def signed_repos(lock: Lock) -> set[str]:
    return {r.id for r in lock.repos if r.gpgcheck}


def repo_of(lock: Lock, package: LockedPackage) -> LockedRepo:
    return next(r for r in lock.repos if r.id == package.repo)
