"""The error of a build that ran out of space names the full filesystem."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from buildahpy.host import space

CURL = (
    "glibc-all-langpacks-2.36-1.fc40.x86_64: Download failed: Curl error (23): Failed writing "
    "received data to disk/application for http://127.0.0.1:1/Packages/x.rpm"
)


def test_no_space_names_the_place_with_the_least_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roomy, full = tmp_path / "roomy", tmp_path / "full"
    roomy.mkdir(), full.mkdir()
    free = {str(roomy): 10**9, str(full): 4096}
    monkeypatch.setattr(space, "free_bytes", lambda path: free.get(path))
    places = [("the image", str(roomy)), ("the dnf cache", str(full))]
    hint = space.no_space_hint(CURL, places)
    assert hint == f"no space left on device for the dnf cache {full} (4.1 kB free)"
    rpm = "installing package big needs 5MB more space on the / filesystem"
    assert space.no_space_hint(rpm, places) == hint


def test_other_failures_are_not_about_space(tmp_path: Path) -> None:
    assert space.no_space_hint("Curl error (56): Connection reset", [("x", str(tmp_path))]) is None


def test_free_bytes_of_a_real_directory(tmp_path: Path) -> None:
    st = os.statvfs(tmp_path)
    assert space.free_bytes(str(tmp_path)) == st.f_bavail * st.f_frsize
    assert space.free_bytes(str(tmp_path / "missing")) is None


def test_a_tie_names_the_first_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One filesystem for everything: the error names what the caller lists first."""
    monkeypatch.setattr(space, "free_bytes", lambda path: 4096)
    places = [("the containers storage", "/graph"), ("the dnf cache", "/cache")]
    hint = space.no_space_hint("write /big: no space left on device", places)
    assert hint == "no space left on device for the containers storage /graph (4.1 kB free)"


def test_sqlite_full_is_about_space(tmp_path: Path) -> None:
    text = 'SQLite error on "/r/history.sqlite": Reading a row failed: database or disk is full'
    assert space.no_space_hint(text, [("x", str(tmp_path))]) is not None


RPM_WRITE = (
    "error: unpacking of archive failed on file /usr/sbin/ldconfig;00000000: cpio: write failed"
    " - No data available"
)


def test_a_failed_write_is_about_space_only_on_a_nearly_full_filesystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rpm 4.18 gives a stale errno for a payload write that hit ENOSPC."""
    size, blocks = 4096, 1 << 30  # a 4 TiB filesystem

    def statvfs(free: int) -> os.statvfs_result:
        return os.statvfs_result((size, size, blocks, free, free, 0, 0, 0, 0, 255))

    monkeypatch.setattr(os, "statvfs", lambda path: statvfs(10 << 20 >> 12))  # 10 MiB free
    places = [("the containers storage", str(tmp_path))]
    assert space.no_space_hint(RPM_WRITE, places) == (
        f"no space left on device for the containers storage {tmp_path} (10.5 MB free)"
    )
    monkeypatch.setattr(os, "statvfs", lambda path: statvfs(blocks // 2))  # half free
    assert space.no_space_hint(RPM_WRITE, places) is None


def test_is_full() -> None:
    assert space.is_full(OSError(errno.ENOSPC, "No space left on device"))
    assert space.is_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not space.is_full(OSError(errno.EIO, "Input/output error"))
    assert not space.is_full(ValueError("x"))
