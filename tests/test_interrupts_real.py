"""Builds that race or are stopped late: two builds of one tag at once, SIGTERM during commit."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from conftest import Builder
from proc_helpers import graphroot, images, running, start_build, storage_mounts, wait_for

pytestmark = pytest.mark.integration

MARKED = """\
from buildahpy import recipe

@recipe('localhost/{tag}')
def {name}(image):
    image.install('busybox')
    image.write_file('/marker', '{name}\\n')
    image.write_file('/payload', b'{fill}' * ({mib} << 20))
    image.config(entrypoint=['/usr/sbin/busybox', 'sh'])
"""


def marked(builder: Builder, name: str, tag: str, *, mib: int = 1, fill: str = "x") -> Path:
    body = MARKED.format(name=name, tag=tag, mib=mib, fill=fill)
    return builder.recipe(f"{name}.py", body)


def test_two_builds_of_the_same_tag_at_once_both_succeed(builder: Builder) -> None:
    tag = "localhost/same:latest"
    images_before = images(builder)
    first = start_build(builder, marked(builder, "one", "same", mib=8))
    second = start_build(builder, marked(builder, "two", "same", mib=8))
    outputs = [proc.communicate(timeout=300) for proc in (first, second)]
    for proc, (_, stderr) in zip((first, second), outputs, strict=True):
        assert proc.returncode == 0, stderr
    # The tag ends on one of the two images. The other stays untagged (as with podman build)
    # or, when the tag moved off it before its build dropped its pending name, is gone.
    built = set(images(builder)) - set(images_before)
    assert 1 <= len(built) <= 2, built
    assert f"sha256:{builder.image_id(tag)}" in built
    with builder.mounted(tag) as root:
        marker = (root / "marker").read_text()
        assert marker in ("one\n", "two\n")
        assert (root / "payload").stat().st_size == 8 << 20
        assert (root / "usr/sbin/busybox").is_file()
        # busybox, and the release package the build adds to an image without os-release
        assert builder.packages(root) == [
            "busybox",
            "fedora-release-common",
            "fedora-release-identity-container",
        ]
    entrypoint = builder.inspect(tag)["OCIv1"]["config"]["Entrypoint"]
    assert entrypoint == ["/usr/sbin/busybox", "sh"]
    assert builder.containers() == []
    assert not [
        n for n in builder.tool("buildah", "images", "--format={{.Name}}").split() if "pending" in n
    ]


def stored_images(env: dict[str, str]) -> set[str]:
    """Ids in the storage's image index, read directly: polling it costs no process."""
    index = Path(graphroot(env)) / "overlay-images" / "images.json"
    try:
        return {entry["id"] for entry in json.loads(index.read_text() or "[]")}
    except (OSError, ValueError, KeyError):
        return set()


def interrupt_commit(builder: Builder, recipe: Path, moment: str) -> tuple[int, str, float]:
    """SIGTERM the build at ``moment`` of its commit; exit code, stderr, seconds to exit."""
    stored_before = stored_images(builder.env)
    proc = start_build(builder, recipe)
    try:
        wait_for(lambda: running(proc.pid, "buildah commit"), timeout=120)
        if moment == "image stored":  # stored, but buildah has neither named it nor exited
            wait_for(lambda: stored_images(builder.env) - stored_before or proc.poll() is not None)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, stderr, time.monotonic() - started


@pytest.mark.parametrize("moment", ["commit starts", "image stored"])
def test_sigterm_during_commit_leaves_the_previous_image_and_nothing_else(
    builder: Builder, moment: str
) -> None:
    tag = "localhost/committed:latest"
    good = builder.cli(marked(builder, "committed", "committed"))
    assert good.returncode == 0, good.stderr
    before, images_before = builder.image_id(tag), images(builder)
    assert before is not None
    mounts_before = storage_mounts(builder.env)
    # a different payload, so the interrupted build is not the same image as the good one
    slow = marked(builder, "committed", "committed", mib=256, fill="y")
    for _attempt in range(3):
        code, stderr, seconds = interrupt_commit(builder, slow, moment)
        if code != 0:
            break
        # the commit won the race and the build finished: undo it and try again
        won = builder.image_id(tag)
        builder.tool("buildah", "tag", before, tag)
        builder.tool("buildah", "rmi", str(won))
    assert code == 143, stderr
    assert stderr.rstrip().endswith(
        "buildahpy: interrupted by signal 15; the working container was removed"
    ), stderr
    assert seconds < 30  # the commit is let finish, then undone
    assert builder.image_id(tag) == before
    assert images(builder) == images_before
    assert builder.containers() == []
    assert storage_mounts(builder.env) == mounts_before
