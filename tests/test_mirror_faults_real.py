"""Real builds through a misbehaving mirror (scripts/latency_mirror.py on 127.0.0.1): dnf's
retries are said on the dnf line, a stalled download ends in bounded time with one line saying
it timed out, a passing 503 of repomd.xml costs no rebuild, and a mirror sync between the
metadata fetch and the package download ends in one line saying the repository changed."""

from __future__ import annotations

import importlib.util
import re
import shutil
import time
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ROOT, Builder

pytestmark = pytest.mark.integration

RECIPE = """\
from buildahpy import recipe

@recipe("localhost/mirror-faults/a")
def a(image):
    image.install("busybox")
"""
TAG = "localhost/mirror-faults/a"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


latency_mirror = script("latency_mirror")
repo_revision = script("repo_revision")


@pytest.fixture
def mirrored(builder: Builder, tmp_path: Path) -> Builder:
    """The builder with a cache of its own (so every package comes from the mirror)."""
    builder.env = dict(builder.env, BUILDAHPY_CACHE_DIR=str(tmp_path / "cache"))
    return builder


def busybox_file(fixture: Path) -> str:
    return next((fixture / "Packages").glob("busybox-[0-9]*.rpm")).name


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("buildahpy:")]


def test_the_dnf_line_says_how_many_download_retries_it_took(
    mirrored: Builder, tmp_path: Path
) -> None:
    fixture = mirrored.repo_file.parent
    with latency_mirror.Mirror(fixture, 0.0) as mirror:
        mirrored.repo_file = mirror.repo_file(tmp_path / "m.repo", fixture / "fixture.repo")
        mirror.faults[:] = [latency_mirror.Fault(busybox_file(fixture), "503", 2)]
        done = mirrored.cli(mirrored.recipe("a.py", RECIPE), "--rebuild")
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"dnf install +1 package \(busybox\) \(2 download retries\)", done.stderr)


def test_a_stall_shorter_than_the_timeout_is_retried_and_said(
    mirrored: Builder, tmp_path: Path
) -> None:
    fixture = mirrored.repo_file.parent
    with latency_mirror.Mirror(fixture, 0.0) as mirror:
        mirrored.repo_file = mirror.repo_file(tmp_path / "m.repo", fixture / "fixture.repo")
        stall = latency_mirror.Fault(busybox_file(fixture), "stall", 1, 5.0)
        mirror.faults[:] = [stall]
        done = mirrored.cli(mirrored.recipe("a.py", RECIPE), "--rebuild", "--dnf-timeout", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert stall.injected == 1
    assert re.search(r"\(\d+ download retr(y|ies)\)", done.stderr), done.stderr[-2000:]


def test_a_download_that_never_finishes_ends_in_one_line_in_bounded_time(
    mirrored: Builder, tmp_path: Path
) -> None:
    fixture = mirrored.repo_file.parent
    name = busybox_file(fixture)
    before = mirrored.image_id(TAG)  # another test's image, or none
    with latency_mirror.Mirror(fixture, 0.0) as mirror:
        mirrored.repo_file = mirror.repo_file(tmp_path / "m.repo", fixture / "fixture.repo")
        mirror.faults[:] = [latency_mirror.Fault(name, "stall", 1000, 600.0)]
        started = time.monotonic()
        done = mirrored.cli(mirrored.recipe("a.py", RECIPE), "--dnf-timeout", "1", timeout=120)
        seconds = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-2000:]
    (line,) = error_lines(done.stderr)
    assert f"cannot download {name} from repository fixture: timed out" in line
    assert "--dnf-timeout" in line
    assert seconds < 60
    assert mirrored.image_id(TAG) == before


def test_a_passing_503_of_repomd_costs_no_rebuild(mirrored: Builder, tmp_path: Path) -> None:
    """The run reads repomd.xml itself to know the repository's revision: one 503 made it
    unknown, and an image that was up to date was built again."""
    fixture = mirrored.repo_file.parent
    recipe = mirrored.recipe("a.py", RECIPE)
    with latency_mirror.Mirror(fixture, 0.0) as mirror:
        mirrored.repo_file = mirror.repo_file(tmp_path / "m.repo", fixture / "fixture.repo")
        assert mirrored.cli(recipe).returncode == 0
        built = mirrored.image_id(TAG)
        mirror.faults[:] = [latency_mirror.Fault("repomd.xml", "503", 1)]
        done = mirrored.cli(recipe)
    assert done.returncode == 0, done.stderr[-2000:]
    assert mirrored.image_id(TAG) == built, done.stderr[-2000:]
    assert "retries=1" in done.stderr


def test_a_mirror_sync_during_the_build_is_said_and_the_next_build_works(
    mirrored: Builder, tmp_path: Path
) -> None:
    fixture = mirrored.repo_file.parent
    recipe = mirrored.recipe("a.py", RECIPE)
    old, new = repo_revision.next_revision(fixture, tmp_path / "next")
    with latency_mirror.Mirror(fixture, 0.0) as mirror:
        mirrored.repo_file = mirror.repo_file(tmp_path / "m.repo", fixture / "fixture.repo")
        assert mirrored.cli(recipe).returncode == 0
        before = mirrored.image_id(TAG)
        shutil.rmtree(tmp_path / "cache")  # busybox comes from the mirror, not the pool
        mirror.sync_to(tmp_path / "next")
        done = mirrored.cli(recipe, "--rebuild")
        assert mirror.sync is None  # the sync came between the metadata and the package
        assert done.returncode == 1, done.stderr[-2000:]
        (line,) = error_lines(done.stderr)
        assert "repository fixture changed during the build (" in line
        assert f"{old} is no longer in it" in line
        assert mirrored.image_id(TAG) == before
        again = mirrored.cli(recipe)
    assert again.returncode == 0, again.stderr[-2000:]
    assert new.removesuffix(".rpm") in str(mirrored.inspect(TAG)["OCIv1"]["config"]["Labels"])
    pooled = {p.name for p in (tmp_path / "cache").glob("*/pool/*/packages/busybox-*.rpm")}
    assert new in pooled and pooled <= {old, new}
