"""Real builds whose errors must name their cause: an undo that fails while a build unwinds, and
a tool whose output cannot be parsed after the commit, with one build at a time and with two."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Builder
from proc_helpers import images, storage_mounts

pytestmark = pytest.mark.integration

RECIPE = """
from buildahpy import recipe

@recipe("localhost/errors-real")
def errors_real(image):
    image.mkdir("/etc")
    image.write_file("/etc/motd", {motd!r})
{more}"""
TAG = "localhost/errors-real:latest"


def fake_tool(builder: Builder, name: str, when: str, then: str) -> dict[str, str]:
    """An environment whose ``name`` runs the real one, except when its argv holds ``when``:
    then it runs the Python statement ``then``."""
    real = shutil.which(name)
    assert real is not None
    bindir = builder.tmp_path / "fakebin"
    bindir.mkdir(exist_ok=True)
    script = bindir / name
    script.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        f"if {when!r} in sys.argv[1:]:\n    {then}\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    script.chmod(0o755)
    return dict(builder.env, PATH=f"{bindir}:{builder.env['PATH']}")


def run(
    builder: Builder, env: dict[str, str], *args: str | Path
) -> subprocess.CompletedProcess[str]:
    saved, builder.env = builder.env, env
    try:
        return builder.cli(*args)
    finally:
        builder.env = saved


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("buildahpy: ")]


def test_an_undo_that_fails_while_the_build_unwinds_does_not_hide_the_cause(
    builder: Builder,
) -> None:
    env = fake_tool(
        builder, "buildah", "umount", "sys.stderr.write('umount: target is busy\\n'); sys.exit(1)"
    )
    path = builder.recipe("fails.py", RECIPE.format(motd="x", more="    image.install('ngnix')\n"))
    before = images(builder), storage_mounts(builder.env)

    result = run(builder, env, path)

    assert result.returncode == 1, result.stderr
    (line,) = error_lines(result)
    assert line.startswith("buildahpy: errors_real: ") and "ngnix" in line, result.stderr
    after = result.stderr.split(line, 1)[1]
    assert "cleanup failed" in after and "cannot unmount the working container" in after
    assert "target is busy" in after
    assert (images(builder), storage_mounts(builder.env)) == before  # buildah rm unmounted
    assert builder.containers() == []


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize(
    ("then", "error"),
    [
        (
            "print('garbage'); sys.exit(0)",
            "step measure image: ValueError: invalid literal for int() with base 10: 'garbage'",
        ),
        (
            "sys.stderr.write('Error: no space left on device\\n'); sys.exit(125)",
            "exited 125: Error: no space left on device",
        ),
    ],
)
def test_a_failure_after_the_commit_is_one_line_and_leaves_the_tag(
    builder: Builder, jobs: str, then: str, error: str
) -> None:
    path = builder.recipe("sized.py", RECIPE.format(motd="first", more=""))
    assert builder.cli(path, "--rebuild").returncode == 0
    previous = builder.image_id(TAG)
    before = images(builder)
    path.write_text(RECIPE.format(motd="second", more=""))
    env = fake_tool(builder, "podman", "--format={{.Size}}", then)

    result = run(builder, env, path, "--jobs", jobs)

    assert result.returncode == 1, result.stderr
    (line,) = error_lines(result)
    assert line.startswith("buildahpy: errors_real: ") and line.endswith(error), result.stderr
    assert "Traceback" not in result.stderr
    assert builder.image_id(TAG) == previous  # the size is measured before the tag moves
    assert images(builder) == before
    assert builder.containers() == []


HELPER = """
def setup(image, name):
    image.write_file("/etc/motd", "hi")
    image.install(name)
"""

CALLER = """
from buildahpy import recipe
from common import setup

@recipe("localhost/errors-helper")
def errors_helper(image):
    image.mkdir("/etc")
    setup(image, {name!r})
    image.mkdir("/srv")
"""


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("bad name", "invalid package name 'bad name': not a package name or provide"),
        # dnf runs when line 9 touches the rootfs: the line that asked for it is named
        ("ngnix", "package not found in the enabled repositories: ngnix"),
    ],
)
def test_a_recipe_error_in_a_helper_names_the_recipes_line(
    builder: Builder, name: str, error: str
) -> None:
    helper = builder.recipe("common.py", HELPER)
    path = builder.recipe("caller.py", CALLER.format(name=name))
    env = dict(builder.env, PYTHONPATH=str(builder.tmp_path))
    before = images(builder)

    result = run(builder, env, path)

    assert result.returncode == 1, result.stderr
    (line,) = error_lines(result)
    assert line.startswith(f"buildahpy: errors_helper: {path}:8 ({helper}:4): {error}"), line
    assert images(builder) == before
