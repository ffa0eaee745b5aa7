"""The shared cache's tmp/: what a live run is making stays, what a killed run left goes."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from buildahpy import log
from buildahpy.host import cache, staging


@pytest.fixture(autouse=True)
def quiet_log() -> None:
    log.configure(quiet=True)  # not onto another test's captured (closed) stderr


def tmp_of(root: Path) -> Path:
    tmp = root / "dnf4" / "tmp"
    tmp.mkdir(parents=True)
    return tmp


def test_a_directory_being_made_is_kept_and_removed_when_done(tmp_path: Path) -> None:
    tmp = tmp_of(tmp_path)
    with staging.directory(tmp, "meta-") as made:
        (made / "repomd.xml").write_text("x")
        assert staging.collect(tmp_path) == []
        assert (made / "repomd.xml").exists()
    assert os.listdir(tmp) == []


def test_what_dead_runs_left_is_removed(tmp_path: Path) -> None:
    tmp = tmp_of(tmp_path)
    (tmp / "meta-dead").mkdir()
    (tmp / "meta-dead" / "primary.xml").write_text("half")
    (tmp / "meta-dead.lock").write_text("")  # its holder is gone: the lock is free
    (tmp / "meta-legacy").mkdir()  # made before the locks: no lock file at all
    (tmp / "old-gone.lock").write_text("")  # killed before its directory existed
    removed = staging.collect(tmp_path)
    assert removed == [str(tmp / "meta-dead"), str(tmp / "meta-legacy")]
    assert os.listdir(tmp) == []


def test_a_held_lock_keeps_its_directory_and_its_lock_file(tmp_path: Path) -> None:
    tmp = tmp_of(tmp_path)
    (tmp / "meta-live").mkdir()
    fds = [os.open(tmp / n, os.O_RDWR | os.O_CREAT) for n in ("meta-live.lock", "old-new.lock")]
    try:
        for fd in fds:  # other open file descriptions: as other processes
            fcntl.flock(fd, fcntl.LOCK_EX)
        assert staging.collect(tmp_path) == []
        assert sorted(os.listdir(tmp)) == ["meta-live", "meta-live.lock", "old-new.lock"]
    finally:
        for fd in fds:
            os.close(fd)
    staging.collect(tmp_path)
    assert os.listdir(tmp) == []


def test_a_snapshot_being_made_survives_a_collect_and_is_published(tmp_path: Path) -> None:
    root = tmp_path / "dnf4"

    def fill(made: Path) -> None:
        (made / "fixture").mkdir()
        (made / "fixture" / "repomd.xml").write_text("meta")
        assert staging.collect(tmp_path) == []  # gc at this moment, from another run

    snapshot = cache.make_snapshot(root, "k1", fill)
    assert (snapshot.meta / "fixture" / "repomd.xml").read_text() == "meta"
    assert os.listdir(root / "tmp") == []
