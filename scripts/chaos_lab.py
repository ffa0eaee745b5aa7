"""The lab every scripts/chaos class runs in: a private containers-storage and cache
directory, the CLI run against them, and the audit (leaks, damaged tags, damaged cache)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
# the Python running this script when it has buildahpy (a test, a lane's own .venv), else the
# checkout's .venv (run as scripts/chaos with the system's python3)
PYTHON = Path(
    sys.executable if importlib.util.find_spec("buildahpy") else ROOT / ".venv/bin/python"
)


RECIPES = """\
from buildahpy import recipe

@recipe("localhost/chaos/a")
def a(image):
    image.install("busybox")
    image.write_file("/chaos", "a\\n")

@recipe("localhost/chaos/b")
def b(image):
    image.install("zlib", "libacl")
"""

BIG = """\
from buildahpy import recipe

@recipe("localhost/chaos/big")
def big(image):
    image.install("glibc-all-langpacks")
"""

LABEL_PACKAGES = "io.buildahpy.packages"


@dataclass
class Row:
    name: str
    faults: int = 0
    survived: int = 0
    clear: int = 0
    leaks: int = 0
    tags: int = 0
    cache: int = 0
    notes: list[str] = field(default_factory=list)

    def lost(self) -> bool:
        return bool(
            self.leaks or self.tags or self.cache or self.survived + self.clear < self.faults
        )


class Lab:
    """One private containers-storage and cache directory, and the audit of both."""

    def __init__(self, base: Path, fixture: Path) -> None:
        self.base, self.fixture = base, fixture
        conf = base / "storage.conf"
        conf.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{base}/graph"\nrunroot = "{base}/run"\n'
        )
        self.cache = base / "cache"
        self.env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(conf))
        self.env["BUILDAHPY_CACHE_DIR"] = str(self.cache)
        self.env["HOME"] = str(base)
        self.recipes = base / "chaos.py"
        self.recipes.write_text(RECIPES)
        self.repo_file = fixture / "fixture.repo"
        self.mounts_before: list[str] = []
        # the repositories whose bytes the cache may hold (the fixture; a mirror sync's next)
        self.sources = [fixture]
        self._digests: dict[str, str] = {}
        self.verified: set[str] = set()  # image ids whose check passed (audit(quick=True))
        self.sboms = base / "sbom"  # where --sbom writes, when a class asks for it

    def argv(self, *args: str | Path, repo_file: Path | None = None) -> list[str]:
        python = str(PYTHON if PYTHON.exists() else sys.executable)
        repo = ["--repo-file", str(repo_file or self.repo_file), "--releasever", "40"]
        return [python, "-m", "buildahpy", *map(str, args), *repo]

    def cli(
        self, *args: str | Path, repo_file: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args, repo_file=repo_file),
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def start(self, *args: str | Path, out: IO[str] | None = None) -> subprocess.Popen[str]:
        """A job of the CLI in a session of its own (kill_session kills all of it); its
        output piped, or into ``out``."""
        return subprocess.Popen(
            self.argv(*args),
            env=self.env,
            cwd=ROOT,
            text=True,
            stdout=out or subprocess.PIPE,
            stderr=out or subprocess.PIPE,
            start_new_session=True,
        )

    def gc(self) -> subprocess.CompletedProcess[str]:
        python = str(PYTHON if PYTHON.exists() else sys.executable)
        return subprocess.run(
            [python, "-m", "buildahpy", "gc"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def tool(self, *argv: str) -> str:
        return subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=120, check=True
        ).stdout

    def mounts(self) -> list[str]:
        with open("/proc/mounts") as handle:
            points = [line.split()[1] for line in handle]
        return sorted(p for p in points if p.startswith(str(self.base / "graph")))

    def leaks(self) -> list[str]:
        found = [
            f"container {c['containername']}"
            for c in json.loads(self.tool("buildah", "containers", "--json") or "null") or []
        ]
        found += [f"mount {m}" for m in self.mounts() if m not in self.mounts_before]
        names = self.tool("buildah", "images", "--format", "{{.Name}}:{{.Tag}}").split()
        found += [f"image {n}" for n in names if n.endswith(":pending")]
        locks = self.base / "graph" / "buildahpy-locks"
        found += [f"lock {p.name}" for p in locks.glob("buildahpy-*.lock")]
        for kind in ("work", "tmp"):
            found += [f"cache {p}" for p in self.cache.glob(f"*/{kind}/*")]
        return found

    def damaged_tags(self, *, quick: bool = False) -> list[str]:
        """Every ``localhost/chaos/*`` tag's image checked (mounted, rpmdb, rpm -Va); ``quick``:
        only images not checked before (an image id names its content: a tag that points to
        a verified id is the verified image), the way a long series of kills stays cheap."""
        damaged = []
        listing = self.tool(
            "buildah", "images", "--no-trunc", "--format", "{{.Name}}:{{.Tag}} {{.ID}}"
        )
        tags = dict(line.split() for line in listing.splitlines() if line.strip())
        for tag in sorted(n for n in tags if n.startswith("localhost/chaos/")):
            if quick and tags[tag] in self.verified:
                continue
            problem = self._check_image(tag)
            if problem:
                damaged.append(f"{tag}: {problem}")
            else:
                self.verified.add(tags[tag])
        return damaged + self.damaged_sboms()

    def damaged_sboms(self) -> list[str]:
        """--sbom's files must be whole documents (old or new), never cut by a kill."""
        damaged = []
        for path in sorted(self.sboms.glob("*")):
            try:
                json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                damaged.append(f"sbom {path.name}: {exc}")
        return damaged

    def _check_image(self, tag: str) -> str:
        labels = json.loads(self.tool("buildah", "inspect", "--type=image", tag))["OCIv1"]
        listed = sorted((labels["config"].get("Labels") or {}).get(LABEL_PACKAGES, "").split())
        name = self.tool("buildah", "from", "--pull=never", tag).strip()
        try:
            root = self.tool("buildah", "mount", name).strip()
            rpm = ["rpm", f"--root={root}", "--dbpath=/usr/lib/sysimage/rpm"]
            query = subprocess.run(
                [*rpm, "-qa", "--qf", "%{NEVRA}\\n"],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
            verify = subprocess.run(
                [*rpm, "-Va", "--nomtime"],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            subprocess.run(["buildah", "rm", name], env=self.env, capture_output=True, check=False)
        if query.returncode != 0 or sorted(query.stdout.split()) != listed or not listed:
            return f"rpmdb {sorted(query.stdout.split())} != label {listed}"
        if verify.returncode != 0:
            return f"rpm -Va: {(verify.stdout + verify.stderr).strip()[:200]}"
        return ""

    def digest(self, path: Path) -> str:
        key = str(path)
        if key not in self._digests:
            self._digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        return self._digests[key]

    def damaged_cache(self, cache: Path | None = None) -> list[str]:
        """Every pool package and snapshot metadata file must be the repository's own bytes."""
        damaged = []
        cache = cache or self.cache
        for package in cache.glob("*/pool/*/packages/*.rpm"):
            sources = self.same_name("Packages", package.name)
            digest = hashlib.sha256(package.read_bytes()).hexdigest()
            if not sources or all(self.digest(source) != digest for source in sources):
                damaged.append(str(package))
        for meta in cache.glob("*/meta/*/*/repodata/*"):
            sources = self.same_name("repodata", meta.name)
            digest = hashlib.sha256(meta.read_bytes()).hexdigest()
            if sources and all(self.digest(source) != digest for source in sources):
                damaged.append(str(meta))
        return damaged

    def same_name(self, folder: str, name: str) -> list[Path]:
        found = [source / folder / name for source in self.sources]
        return [path for path in found if path.exists()]

    def audit(self, row: Row, cache: Path | None = None, *, quick: bool = False) -> None:
        self.gc()
        for column, found in (
            ("leaks", self.leaks()),
            ("tags", self.damaged_tags(quick=quick)),
            ("cache", self.damaged_cache(cache)),
        ):
            setattr(row, column, getattr(row, column) + len(found))
            row.notes += [f"{column}: {item}" for item in found]

    def close(self) -> None:
        for argv in (["buildah", "rm", "--all"], ["buildah", "rmi", "--all", "--force"]):
            subprocess.run(argv, env=self.env, capture_output=True, check=False, timeout=120)
        for point in reversed(self.mounts()):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def lab(fixture: Path, name: str) -> Iterator[Lab]:
    base = Path(tempfile.mkdtemp(prefix=f"buildahpy-chaos-{name}-"))
    here = Lab(base, fixture)
    try:
        yield here
    finally:
        here.close()


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def kill_session(proc: subprocess.Popen[str]) -> None:
    """SIGKILL every process of the job's session (a fleet machine losing power, for the
    build; the storage survives), until none is left (bounded: 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = session_pids(proc.pid)
        if not pids and proc.poll() is not None:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        time.sleep(0.05)
    proc.communicate(timeout=10)


def must(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise SystemExit(f"chaos: {what} failed ({result.returncode}): {result.stderr[-2000:]}")


def clear_error(stderr: str, names: list[str]) -> str:
    """'' when stderr ends in one ``buildahpy:`` line naming one of ``names`` and the
    repository; otherwise why not."""
    lines = [line for line in stderr.splitlines() if line.startswith("buildahpy:")]
    if len(lines) != 1:
        return f"{len(lines)} error lines: {stderr.strip()[-300:]}"
    if "fixture" not in lines[0] or not any(n in lines[0] for n in names):
        return f"error line names neither {names} nor the repository: {lines[0]}"
    return ""
