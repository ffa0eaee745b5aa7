"""``buildahpy gc`` and the images rebuilds leave untagged: ours go (the previous base of a tagged
image too, which stays whole), others' and tagged ones stay, a container's stays, and nothing
goes while a run is building."""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import Builder

pytestmark = pytest.mark.integration

FAMILY = """
from buildahpy import recipe

@recipe("localhost/gc-base")
def gc_base(image):
    image.install("busybox")
    image.mkdir("/etc")  # busybox alone may bring none
    image.write_file("/etc/generation", {generation!r})

@recipe("localhost/gc-child", base=gc_base)
def gc_child(image):
    image.write_file("/etc/child", "child\\n")
    image.config(entrypoint=["/usr/sbin/busybox", "cat", "/etc/child", "/etc/generation"])
"""


def all_images(builder: Builder) -> dict[str, list[str]]:
    """id -> names of every local image, intermediate ones too."""
    out = builder.tool("buildah", "images", "--all", "--json", "--no-trunc")
    entries = json.loads(out or "null") or []
    return {e["id"].removeprefix("sha256:"): e.get("names") or [] for e in entries}


def foreign_untagged(builder: Builder) -> str:
    """An image of somebody else's, with no name (as their own rebuilds leave them)."""
    name = builder.tool("buildah", "from", "scratch").strip()
    try:
        builder.tool("buildah", "config", "--label=owner=someone-else", name)
        iidfile = builder.tmp_path / "foreign.iid"
        builder.tool("buildah", "commit", "--quiet", f"--iidfile={iidfile}", name)
        return iidfile.read_text().strip().removeprefix("sha256:")
    finally:
        builder.tool("buildah", "rm", name)


def gc_cli(builder: Builder, *args: str) -> subprocess.CompletedProcess[str]:
    return builder.cli("gc", *args, repo=False, releasever=None)


def test_gc_removes_our_untagged_images_and_nothing_else(builder: Builder) -> None:
    path = builder.recipe("family.py", FAMILY.format(generation="1\n"))
    assert builder.cli(path).returncode == 0
    old_base = builder.image_id("localhost/gc-base:latest")
    old_child = builder.image_id("localhost/gc-child:latest")
    path.write_text(FAMILY.format(generation="2\n"))
    # only the base again: the tagged child stays built on the old base's layers
    first = builder.cli(path, "--only", "gc_base")
    assert first.returncode == 0, first.stderr
    new_base = builder.image_id("localhost/gc-base:latest")
    assert new_base != old_base and all_images(builder)[old_base] == []
    foreign = foreign_untagged(builder)
    before = all_images(builder)

    dry = gc_cli(builder, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would remove unused image {old_base[:12]}" in dry.stdout, dry.stdout
    # (the session's storage may hold other tests' untagged images of ours: they go too)
    assert foreign[:12] not in dry.stdout and re.search(r"\d+ unused images? to remove", dry.stdout)
    assert all_images(builder) == before

    done = gc_cli(builder)
    assert done.returncode == 0, done.stderr
    after = all_images(builder)
    assert old_base not in after, done.stdout
    assert foreign in after and new_base in after and old_child in after
    assert f"removed unused image {old_base[:12]}" in done.stdout, done.stdout
    # the tagged child, made on the removed image's layers, is whole and runs
    run = builder.run_in("localhost/gc-child:latest", "/usr/sbin/busybox", "cat", "/etc/generation")
    assert run.returncode == 0 and run.stdout == "1\n", run
    # its base rebuilt with it: the old child is now ours and untagged too, and goes
    assert builder.cli(path).returncode == 0
    assert builder.image_id("localhost/gc-child:latest") != old_child
    again = builder.cli("--gc", repo=False, releasever=None)  # the old flag does the same
    assert again.returncode == 0, again.stderr
    assert old_child not in all_images(builder) and foreign in all_images(builder)
    builder.tool("buildah", "rmi", foreign)


def test_gc_keeps_an_image_a_container_uses_and_all_of_them_while_a_run_builds(
    builder: Builder,
) -> None:
    path = builder.recipe("family.py", FAMILY.format(generation="a\n"))
    assert builder.cli(path, "--only", "gc_base").returncode == 0
    old = builder.image_id("localhost/gc-base:latest")
    path.write_text(FAMILY.format(generation="b\n"))
    assert builder.cli(path, "--only", "gc_base").returncode == 0
    assert old is not None and all_images(builder)[old] == []

    graph = Path(builder.env["CONTAINERS_STORAGE_CONF"]).parent / "graph"
    fd = os.open(graph / "buildahpy-locks" / "runs.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # as a run that is building holds it
        busy = gc_cli(builder)
        assert busy.returncode == 0, busy.stderr
        assert "a build is running" in busy.stdout and old in all_images(builder)
    finally:
        os.close(fd)

    user = builder.tool("buildah", "from", "--pull=never", old).strip()
    try:
        held = gc_cli(builder)
        assert held.returncode == 0, held.stderr
        assert f"kept unused image {old[:12]} (a container uses it)" in held.stdout, held.stdout
        assert old in all_images(builder)
    finally:
        builder.tool("buildah", "rm", user)
    assert gc_cli(builder).returncode == 0
    assert old not in all_images(builder)
