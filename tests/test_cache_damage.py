"""The shared cache's checks (cachecheck.py) and gc of snapshot staging (cache.py), on
tmp_path trees: no dnf, no process but the makers the staging tests start."""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from buildahpy.host import cache, cachecheck

ROOT = Path(__file__).resolve().parent.parent


def primary(packages: dict[str, bytes]) -> bytes:
    entries = "".join(
        f'<package type="rpm"><name>{name.split("-")[0]}</name>'
        f'<checksum type="sha256" pkgid="YES">{hashlib.sha256(data).hexdigest()}</checksum>'
        f'<size package="{len(data)}"/><location href="Packages/{name}"/></package>'
        for name, data in packages.items()
    )
    return (
        f'<metadata xmlns="http://linux.duke.edu/metadata/common" packages="1">{entries}</metadata>'
    ).encode()


def snapshot_of(tmp_path: Path, packages: dict[str, bytes]) -> cache.Snapshot:
    def fill(staging: Path) -> None:
        repodata = staging / "fixture-abc" / "repodata"
        repodata.mkdir(parents=True)
        (repodata / "repomd.xml").write_text("repomd")
        (repodata / "x-primary.xml.gz").write_bytes(gzip.compress(primary(packages)))
        (staging / "fixture.solv").write_bytes(b"solv" * 100)

    return cache.make_snapshot(tmp_path / "cache" / "dnf4", "k", fill)


def test_a_snapshot_is_checked_against_what_it_was_made_with(tmp_path: Path) -> None:
    snapshot = snapshot_of(tmp_path, {})
    assert cachecheck.snapshot_damage(snapshot.meta) == ""
    solv = snapshot.meta / "fixture.solv"
    solv.write_bytes(b"solv" * 99 + b"sol!")  # same size
    assert "fixture.solv" in cachecheck.snapshot_damage(snapshot.meta)
    assert cache.find_snapshot(snapshot.root, "k") is None  # removed: to be made again
    assert not snapshot.meta.exists() and not list((snapshot.root / "tmp").iterdir())


@pytest.mark.parametrize("change", ["extra", "missing", "no record"])
def test_a_snapshot_with_other_files_is_damaged(tmp_path: Path, change: str) -> None:
    meta = snapshot_of(tmp_path, {}).meta
    if change == "extra":
        (meta / "fixture-abc" / "repodata" / "other.xml").write_text("")
    elif change == "missing":
        (meta / "fixture.solv").unlink()
    else:
        (meta / cachecheck.MANIFEST).unlink()
    assert cachecheck.snapshot_damage(meta) != ""


def test_pool_packages_are_checked_against_the_snapshots_primary(tmp_path: Path) -> None:
    good, bad = b"good rpm", b"bad rpm!"
    snapshot = snapshot_of(tmp_path, {"good-1-1.x86_64.rpm": good, "bad-1-1.x86_64.rpm": bad})
    packages = snapshot.pool / "fixture-abc" / "packages"
    packages.mkdir(parents=True)
    (packages / "good-1-1.x86_64.rpm").write_bytes(good)
    (packages / "bad-1-1.x86_64.rpm").write_bytes(b"bad rpm?")  # a byte flipped
    (packages / "old-1-1.x86_64.rpm").write_bytes(b"another revision's")
    found = cache.find_snapshot(snapshot.root, "k")
    assert found is not None
    assert found.rejected == {"fixture-abc/packages/old-1-1.x86_64.rpm"}
    assert not (packages / "bad-1-1.x86_64.rpm").exists()  # dropped: dnf fetches it again
    work = cache.open_build_cache(found, "b1")
    assert sorted(p.name for p in work.glob("*/packages/*")) == ["good-1-1.x86_64.rpm"]
    (work / "fixture-abc" / "packages" / "bad-1-1.x86_64.rpm").write_bytes(bad)
    assert cache.harvest(found, work) == ["bad-1-1.x86_64.rpm"]  # the fetched one, checked
    later = cache.open_build_cache(found, "b2")  # a later build of the run links it
    assert sorted(p.name for p in later.glob("*/packages/*")) == [
        "bad-1-1.x86_64.rpm",
        "good-1-1.x86_64.rpm",
    ]


def test_a_cache_of_another_user_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cache" / "dnf4"
    root.mkdir(parents=True)
    cachecheck.check_owner(root)
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    os.chown(tmp_path / "cache", 12345, 12345)
    with pytest.raises(cachecheck.ForeignCacheError, match="owned by uid 12345"):
        cache.find_snapshot(root, "k")


MAKER = """
import sys, time
from pathlib import Path
from buildahpy.host import cache
def fill(staging):
    (staging / "started").write_text("")
    time.sleep(600)
cache.make_snapshot(Path(sys.argv[1]), "k", fill)
"""


def test_staging_is_collected_once_its_maker_is_gone(tmp_path: Path) -> None:
    root = tmp_path / "cache" / "dnf4"
    maker = subprocess.Popen([sys.executable, "-c", MAKER, str(root)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not list(root.glob("tmp/meta-*/started")):
            assert time.monotonic() < deadline and maker.poll() is None
            time.sleep(0.02)
        (old := root / "tmp" / "old-k-1").mkdir()
        assert cache.collect_staging(tmp_path / "cache") == [old.name]  # being made: kept
        os.kill(maker.pid, signal.SIGKILL)
        maker.wait(timeout=30)
        (staging,) = root.glob("tmp/meta-*")
        assert cache.collect_staging(tmp_path / "cache") == [staging.name]
        assert not list(root.glob("tmp/*"))
    finally:
        if maker.poll() is None:
            maker.kill()
            maker.wait(timeout=30)
