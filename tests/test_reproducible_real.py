"""Real builds of the same inputs give the same image (see README, Reproducible builds)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT, Builder

pytestmark = pytest.mark.integration

RECIPES = sorted((ROOT / "recipes").glob("*.py"))

RANDOM = """
import os
from buildahpy import recipe

@recipe("localhost/randomly:latest")
def randomly(image):
    image.install("busybox")
    image.mkdir("/etc")  # busybox alone may not bring it
    image.write_file("/etc/token", os.urandom(16))
    image.write_file("/etc/motd", "same every time\\n")
    image.config(entrypoint=["/usr/sbin/busybox", "true"])
"""


def tags_of(builder: Builder, recipe: Path) -> list[str]:
    """Every image the file makes, as --list loads them (a file may make variants in a loop)."""
    listed = builder.cli(recipe, "--list")
    assert listed.returncode == 0, listed.stderr
    return [line.split("\t")[1] for line in listed.stdout.splitlines()]


def layers(builder: Builder, tag: str) -> list[str]:
    return list(builder.inspect(tag)["OCIv1"]["rootfs"]["diff_ids"])


@pytest.mark.parametrize("recipe", RECIPES, ids=[r.stem for r in RECIPES])
def test_two_builds_of_a_bundled_recipe_give_the_same_image(builder: Builder, recipe: Path) -> None:
    tags = tags_of(builder, recipe)
    assert tags
    first = builder.cli(recipe, "--rebuild")
    assert first.returncode == 0, first.stderr
    made = {tag: (builder.image_id(tag), layers(builder, tag)) for tag in tags}
    second = builder.cli(recipe, "--rebuild")
    assert second.returncode == 0, second.stderr
    assert {tag: (builder.image_id(tag), layers(builder, tag)) for tag in tags} == made


def test_check_reproducible_names_the_random_file_and_keeps_the_first_tag(
    builder: Builder,
) -> None:
    recipe = builder.recipe("randomly.py", RANDOM)
    result = builder.cli("--check-reproducible", recipe)
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = [line for line in result.stdout.splitlines() if line.startswith("randomly:")]
    assert len(verdict) == 1 and "NOT reproducible" in verdict[0], result.stdout
    first_id = verdict[0].split("image ", 1)[1].split()[0]
    listed = [line.strip() for line in result.stdout.splitlines() if line.startswith("  /")]
    assert listed == ["/etc/token: content"], result.stdout
    tagged = builder.image_id("localhost/randomly:latest")
    assert tagged is not None and tagged.startswith(first_id)
    names = builder.tool("buildah", "images", "--format={{.Name}}:{{.Tag}}")
    assert "buildahpy-check" not in names, names


def test_check_reproducible_passes_a_reproducible_recipe(builder: Builder) -> None:
    result = builder.cli("--check-reproducible", ROOT / "recipes" / "busybox.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "busybox: reproducible, both builds gave image" in result.stdout


def test_source_date_epoch_sets_created_the_label_and_the_mtimes(builder: Builder) -> None:
    dated = Builder(
        dict(builder.env, SOURCE_DATE_EPOCH="1700000000"), builder.repo_file, builder.tmp_path
    )
    recipe = builder.recipe("dated.py", RANDOM.replace("randomly", "dated"))
    result = dated.cli(recipe, "--rebuild")
    assert result.returncode == 0, result.stderr
    oci = builder.inspect("localhost/dated:latest")["OCIv1"]
    assert oci["created"] == "2023-11-14T22:13:20Z"
    assert oci["config"]["Labels"]["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert {entry["created"] for entry in oci["history"]} == {"2023-11-14T22:13:20Z"}
    with builder.mounted("localhost/dated:latest") as root:
        assert os.lstat(root / "etc/motd").st_mtime == 1700000000
        assert os.lstat(root / "etc").st_mtime <= 1700000000
        installed = builder.tool(
            "rpm",
            f"--root={root}",
            "--dbpath=/usr/lib/sysimage/rpm",
            "-q",
            "--qf",
            "%{INSTALLTIME}",
            "busybox",
        )
    assert installed == "1700000000"
