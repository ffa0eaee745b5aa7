"""A damaged shared cache (cache.py, cachecheck.py) with the real dnf: a damaged pool package or
snapshot file is dropped or remade, never used and never written through; a cache owned by
another user is not used; a snapshot whose maker was killed is removed by gc."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, Builder, dnf_flavour, fixture_nevra

pytestmark = pytest.mark.integration

RECIPE = """
from buildahpy import recipe

@recipe("localhost/cachedmg-busybox")
def cachedmg_busybox(image):
    image.install("busybox")
"""


def load_mirror() -> type:
    spec = importlib.util.spec_from_file_location(
        "latency_mirror", ROOT / "scripts/latency_mirror.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Mirror  # type: ignore[no-any-return]


@dataclass
class Warm:
    builder: Builder
    cache: Path  # <cache>/<flavour>
    fixture: Path  # the fixture repository's directory


@pytest.fixture
def warm(builder: Builder, tmp_path: Path) -> Iterator[Warm]:
    """A built image, its packages from an HTTP mirror (a file:// repository's are used in
    place, never pooled), with a cache of its own."""
    builder.env = dict(builder.env, BUILDAHPY_CACHE_DIR=str(tmp_path / "cache"))
    fixture = builder.repo_file.parent
    with load_mirror()(fixture, 0.0) as mirror:
        builder.repo_file = mirror.repo_file(tmp_path / "mirror.repo", builder.repo_file)
        recipe = builder.recipe("r.py", RECIPE)
        done = builder.cli(recipe)
        assert done.returncode == 0, done.stderr
        yield Warm(builder, tmp_path / "cache" / dnf_flavour(), fixture)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def rebuild(builder: Builder) -> subprocess.CompletedProcess[str]:
    done = builder.cli(builder.tmp_path / "r.py", "--rebuild")
    assert done.returncode == 0, done.stderr
    with builder.mounted("localhost/cachedmg-busybox") as root:
        verify = subprocess.run(
            [
                "rpm",
                f"--root={root}",
                "--dbpath=/usr/lib/sysimage/rpm",
                "-V",
                "--nomtime",
                "busybox",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return done


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
def test_a_damaged_pool_package_is_dropped_never_written_through(
    warm: Warm, tmp_path: Path, damage: str
) -> None:
    """dnf4 and dnf5 both find the damaged package in their cachedir and download it again
    onto the same name: before, onto the pool's own inode (a hard link), rewriting a file
    another build may be reading. Now the damaged file is never linked into a build: it is
    dropped, fetched again, and the pool gets the repository's bytes as a new file."""
    builder, cache = warm.builder, warm.cache
    nevra = fixture_nevra(warm.fixture / "fixture.repo", "busybox")
    (package,) = cache.glob(f"pool/*/packages/{nevra}.rpm")
    if damage == "truncated":
        package.write_bytes(package.read_bytes()[: package.stat().st_size // 2])
    else:
        flip(package)
    held = tmp_path / "held.rpm"  # another build's link to the pool's file
    os.link(package, held)
    damaged = digest(held)
    rebuild(builder)
    assert digest(held) == damaged, "a build wrote into a file of the pool"
    assert digest(package) == digest(warm.fixture / "Packages" / package.name)


@pytest.mark.parametrize("pattern", ["*/repodata/*primary.xml*", "**/*.solv"])
def test_a_damaged_snapshot_file_is_remade(warm: Warm, pattern: str) -> None:
    """dnf resolves from the snapshot's .solv and reads primary.xml only without one, so a
    damaged primary stayed in the cache for good, and a damaged .solv (nothing checksums it)
    was resolved from or silently replaced in each build's copy. The snapshot is remade."""
    builder, cache = warm.builder, warm.cache
    found = sorted(p for p in cache.glob(f"meta/*/{pattern}") if p.is_file())
    assert found, sorted(cache.rglob("*"))
    flip(found[0])
    damaged = digest(found[0])
    done = rebuild(builder)
    remade = [p for p in cache.glob(f"meta/*/{pattern}") if p.is_file()]
    assert remade and all(digest(p) != damaged for p in remade), remade
    assert "damaged metadata snapshot" in done.stderr, done.stderr


def tree_state(top: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.lstat().st_mtime_ns, p.lstat().st_uid) for p in sorted(top.rglob("*"))}


def test_a_cache_owned_by_another_user_is_not_used(warm: Warm) -> None:
    """Root can write anywhere, and before used the cache whoever owned it: that user's
    snapshot and packages went into root's images. Now the build goes without it, and says so."""
    builder, cache = warm.builder, warm.cache
    subprocess.run(["chown", "-R", "12345:12345", str(cache.parent)], check=True)
    before = tree_state(cache.parent)
    done = rebuild(builder)
    assert "owned by uid 12345" in done.stderr, done.stderr
    assert tree_state(cache.parent) == before


MAKER = """
import sys, time
from pathlib import Path
from buildahpy.host import cache
def fill(staging):
    (staging / "started").write_text("")
    time.sleep(600)
cache.make_snapshot(Path(sys.argv[1]), "k", fill)
"""


def start_maker(root: Path) -> subprocess.Popen[bytes]:
    maker = subprocess.Popen([sys.executable, "-c", MAKER, str(root)], cwd=ROOT)
    deadline = time.monotonic() + 30
    while not list(root.glob("tmp/meta-*/started")):
        assert time.monotonic() < deadline and maker.poll() is None
        time.sleep(0.05)
    return maker


def test_gc_removes_the_snapshot_a_killed_run_was_making(builder: Builder, tmp_path: Path) -> None:
    """A run killed while dnf fetched the metadata left tmp/meta-* for good; gc removes it
    once its maker is gone, and never one being made."""
    builder.env = dict(builder.env, BUILDAHPY_CACHE_DIR=str(tmp_path / "cache"))
    root = tmp_path / "cache" / dnf_flavour()
    killed, live = start_maker(root), None
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        (dead,) = root.glob("tmp/meta-*")
        live = start_maker(root)
        done = builder.cli("gc", repo=False, releasever=None)
        assert done.returncode == 0, done.stderr
        left = list(root.glob("tmp/*"))
        assert dead not in left and len(left) == 1, left
        assert not list(root.glob("meta/*"))
    finally:
        for proc in (killed, live):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
