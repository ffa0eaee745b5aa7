"""The error of a build that ran out of space names the full filesystem."""

from __future__ import annotations

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
