"""What an image is built from, as one digest in a label, so that an unchanged recipe is skipped.

The inputs of a build: the recipe's file and the user's own modules it imports (imports.py), its
options and the command line's, the host facts the target is resolved from, what the recipe
does when run against a recording engine (every call, the bytes it writes, the config), the
content of host files it copies in, the base image's id, the revision of every repository's
metadata (the sha256 of its repomd.xml, which is what metalinks publish too) and buildahpy's
version. What the recipe reads from the environment, the clock or anywhere else shows in what it
does; a recipe whose two dry runs differ has unknown inputs and is always built. Repository
revisions are read with urllib (file://, http(s), metalink, mirrorlist), in parallel, once per run
and release; starts no process.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import ssl
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs

from buildahpy import __version__
from buildahpy.api.image import DryEngine, Image
from buildahpy.api.imports import fresh_imports
from buildahpy.api.recipe import Recipe
from buildahpy.log import get_logger
from buildahpy.plan import timestamp
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import HOST_REPOSDIRS, Options, host_repo_files, substitute

_FETCH_TIMEOUT = 20.0


@attrs.frozen
class Repo:
    id: str
    kind: str  # baseurl, metalink or mirrorlist
    url: str
    section: tuple[tuple[str, str], ...] = ()  # the .repo section, for its ssl options


def repo_files(options: Options) -> tuple[Path, ...]:
    if options.repo_files:
        return options.repo_files
    return host_repo_files(tuple(d for d in HOST_REPOSDIRS if Path(d).is_dir()))


def enabled_repos(files: Sequence[Path], variables: Mapping[str, str]) -> list[Repo]:
    repos = []
    for path in files:
        parser = configparser.RawConfigParser(strict=False)
        parser.read(path)
        for section in parser.sections():
            if section == "main" or parser.get(section, "enabled", fallback="1").strip() in (
                "0",
                "false",
                "False",
                "no",
            ):
                continue
            items = tuple((k, substitute(v, variables)) for k, v in parser.items(section))
            options = dict(items)
            for kind in ("baseurl", "metalink", "mirrorlist"):  # dnf's order of preference
                if options.get(kind, "").strip():
                    url = options[kind].replace(",", " ").split()[0]
                    repos.append(Repo(section, kind, url, items))
                    break
    return repos


def _context(repo: Repo) -> ssl.SSLContext:
    options = dict(repo.section)
    context = ssl.create_default_context(cafile=options.get("sslcacert") or None)
    if options.get("sslverify", "1").strip() in ("0", "false", "False", "no"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if options.get("sslclientcert"):
        context.load_cert_chain(options["sslclientcert"], options.get("sslclientkey") or None)
    return context


def _get(url: str, repo: Repo) -> bytes:
    context = _context(repo) if url.startswith("https:") else None
    with urllib.request.urlopen(url, timeout=_FETCH_TIMEOUT, context=context) as response:
        data: bytes = response.read()
    return data


def metalink_repomd_sha256(document: bytes) -> str | None:
    """The current repomd.xml's sha256 from a metalink (not the older ones in alternates)."""
    root = ET.fromstring(document)
    for file_el in root.iter():
        if file_el.tag.endswith("}file") and file_el.get("name") == "repomd.xml":
            for child in file_el:
                if child.tag.endswith("}verification"):
                    for hash_el in child:
                        if hash_el.get("type") == "sha256" and hash_el.text:
                            return hash_el.text.strip()
    return None


def revision(repo: Repo) -> str:
    """sha256 of the repository's current repomd.xml; raises OSError/ValueError when unknown."""
    if repo.kind == "metalink":
        found = metalink_repomd_sha256(_get(repo.url, repo))
        if found is None:
            raise ValueError("the metalink lists no sha256 of repomd.xml")
        return found
    base = repo.url
    if repo.kind == "mirrorlist":
        lines = _get(repo.url, repo).decode(errors="replace").splitlines()
        mirrors = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        if not mirrors:
            raise ValueError("the mirrorlist is empty")
        base = mirrors[0]
    return hashlib.sha256(_get(base.rstrip("/") + "/repodata/repomd.xml", repo)).hexdigest()


def revisions(repos: Sequence[Repo]) -> dict[str, str | None]:
    """repo id -> metadata revision, or None where it cannot be read (its users are rebuilt)."""

    def one(repo: Repo) -> str | None:
        try:
            return revision(repo)
        except (OSError, ValueError, ET.ParseError) as exc:
            get_logger().warning(
                "cannot read the repository's metadata revision; its images are rebuilt",
                repo=repo.id,
                cause=str(exc),
            )
            return None

    with ThreadPoolExecutor(max_workers=min(8, max(1, len(repos)))) as pool:
        found = list(pool.map(one, repos))
    return {repo.id: value for repo, value in zip(repos, found, strict=True)}


class _Recorder(DryEngine):
    """A dry run that records every call with its full arguments (the bytes written as their
    digest) and the host paths the recipe copies in (their content is an input too)."""

    def __init__(self) -> None:
        self.calls: list[list[object]] = []
        self.copied: list[Path] = []

    def install(self, packages: list[str]) -> None:
        self.calls.append(["install", *packages])

    def remove(self, packages: list[str]) -> None:
        self.calls.append(["remove", *packages])

    def write(self, path: str, data: bytes, mode: int) -> None:
        self.calls.append(["write", path, hashlib.sha256(data).hexdigest(), mode])

    def copy(self, source: Path, dest: str, mode: int | None) -> None:
        self.copied.append(source)
        self.calls.append(["copy", str(source), dest, mode])

    def mkdir(self, path: str, mode: int) -> None:
        self.calls.append(["mkdir", path, mode])

    def symlink(self, target: str, link: str) -> None:
        self.calls.append(["symlink", target, link])

    def add_group(self, name: str, gid: int) -> None:
        self.calls.append(["group", name, gid])

    def add_user(self, name: str, uid: int, gid: int, home: str, shell: str) -> None:
        self.calls.append(["user", name, uid, gid, home, shell])

    def run(self, argv: list[str]) -> str:
        self.calls.append(["run", *argv])
        return ""

    def rootfs(self) -> Path:
        self.calls.append(["rootfs"])
        return super().rootfs()


def tree_digest(path: Path) -> str:
    """Paths, modes, link targets and content of a host file or tree."""
    digest = hashlib.sha256()
    for item in sorted([path, *path.rglob("*")]) if path.is_dir() else [path]:
        stat = item.lstat()
        digest.update(f"{item.relative_to(path)}\0{stat.st_mode:o}\0".encode())
        if item.is_symlink():
            digest.update(str(item.readlink()).encode())
        elif item.is_file():
            digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()


@attrs.frozen
class DryRun:
    record: str  # JSON: every call, the steps and the config, as the recipe made them
    copied: tuple[Path, ...]
    imported: tuple[Path, ...]  # the user's modules the recipe function imported as it ran


def dry_run(recipe: Recipe) -> DryRun:
    """Run the recipe function against an engine that only records; its errors propagate."""
    recorder = _Recorder()
    image = Image(recorder)
    with fresh_imports() as imported:
        recipe.func(image)
    record = {"calls": recorder.calls, "steps": image.steps, "config": repr(image.config_value)}
    return DryRun(json.dumps(record), tuple(recorder.copied), tuple(imported))


def recipe_inputs(recipe: Recipe, options: Options, host: HostRelease, flavour: str) -> str | None:
    """The inputs known before the base and repositories are looked at; None when they cannot
    be known, and the recipe is then always built: its dry run fails (it depends on something
    only a real build knows), or two dry runs record different images (it reads the clock,
    random numbers or anything else that changes from one call to the next)."""
    try:
        first, second = dry_run(recipe), dry_run(recipe)
        if first.record != second.record:
            get_logger().debug("two dry runs differ; always built", recipe=recipe.name)
            return None
        copied = [(str(path), tree_digest(path)) for path in first.copied]
        modules = sorted({*recipe.imports, *first.imported, *second.imported})
        imported = [(str(path), hashlib.sha256(path.read_bytes()).hexdigest()) for path in modules]
    except Exception:  # any failure only means "cannot tell": build it
        return None
    files = [(str(p), hashlib.sha256(p.read_bytes()).hexdigest()) for p in repo_files(options)]
    fields = {
        "source": hashlib.sha256(recipe.file.read_bytes()).hexdigest(),
        "recipe": repr(recipe),
        "options": repr(options),
        "host": repr(host),
        "flavour": flavour,
        "repo_files": files,
        "dry_run": hashlib.sha256(first.record.encode()).hexdigest(),
        "copied": copied,
        "imported": imported,
        "version": __version__,
        # the image's time when set (plan/timestamp.py), so a new value is a rebuild
        "source_date_epoch": os.environ.get(timestamp.ENV, ""),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def inputs_digest(
    static: str | None, base_id: str | None, repo_revisions: Mapping[str, str | None]
) -> str | None:
    """The label value; None (always build) when any input is unknown."""
    if static is None or any(value is None for value in repo_revisions.values()):
        return None
    fields = {"static": static, "base": base_id or "scratch", "repos": dict(repo_revisions)}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
