"""Real builds: ``buildahpy diff`` between two builds of a recipe whose package set changed,
``buildahpy why`` on a built image (and on one that does not record its request), and a size
budget that fails a build while the previous image keeps its tag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Builder, fixture_nevra

pytestmark = pytest.mark.integration

TAG = "localhost/changing:latest"


def command(builder: Builder, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "buildahpy", *args]
    return subprocess.run(argv, env=builder.env, cwd=ROOT, capture_output=True, text=True)


def changing(builder: Builder, packages: list[str], env: str, extra: str = "") -> Path:
    """The same recipe file, rewritten: what it installs and its config change."""
    return builder.recipe(
        "changing.py",
        "from buildahpy import recipe\n\n"
        f"@recipe({TAG!r}{extra})\n"
        "def changing(image):\n"
        f"    image.install(*{packages!r})\n"
        f"    image.config(entrypoint=['/bin/bash'], env={{'STAGE': {env!r}}}, "
        f"labels={{'stage': {env!r}}})\n",
    )


SMALL = ["glibc-minimal-langpack", "bash"]


def test_diff_between_two_builds_names_what_changed(builder: Builder) -> None:
    first = builder.cli(changing(builder, SMALL, "one"))
    assert first.returncode == 0, first.stderr
    old_id = builder.image_id(TAG)
    second = builder.cli(changing(builder, [*SMALL, "busybox"], "two"))
    assert second.returncode == 0, second.stderr
    assert old_id and builder.image_id(TAG) != old_id

    result = command(builder, "diff", old_id, TAG, "--format", "json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    busybox = fixture_nevra(builder.repo_file, "busybox")
    changes = {c["name"]: c for c in found["packages"]}
    assert changes["busybox"]["kind"] == "added"
    assert changes["busybox"]["new"] == busybox
    assert all(c["kind"] != "removed" for c in found["packages"])
    old_size, new_size = builder.size(old_id), builder.size(TAG)  # as podman images shows them
    with builder.mounted(old_id) as root:
        old_packages = builder.packages(root)
    with builder.mounted(TAG) as root:
        new_packages = builder.packages(root)
        busybox_bytes = os.lstat(root / "usr/sbin/busybox").st_size
    assert sorted(set(new_packages) - set(old_packages)) == [
        n for n, c in changes.items() if c["kind"] == "added"
    ]
    assert found["size_delta"] == new_size - old_size
    assert changes["busybox"]["delta"] >= busybox_bytes > 0
    config = {c["key"]: (c["old"], c["new"]) for c in found["config"]}
    assert config["env STAGE"] == ("one", "two")
    labels = {c["key"]: (c["old"], c["new"]) for c in found["labels"]}
    assert labels["stage"] == ("one", "two")
    assert "files" not in found

    text = command(builder, "diff", old_id, TAG, "--files")
    assert text.returncode == 0, text.stderr
    assert f"  added      {busybox}  +" in text.stdout
    assert "  env STAGE: one -> two" in text.stdout
    added = [line for line in text.stdout.splitlines() if line.startswith("  added    /")]
    assert any(line.split()[1] == "/usr/sbin/busybox" for line in added), text.stdout


def explained(stderr: str, tag: str = "localhost/nginx:latest") -> dict[str, str]:
    """The ``why`` lines of ``tag``'s size report in a build's --explain output."""
    prefix, chains, mine = "  why ", {}, False
    for line in stderr.splitlines():
        recipe, sep, rest = line.partition("  ")
        if sep and recipe and not recipe.startswith(" "):
            line = rest  # after the recipe's name, which the console puts before each line
        if not line.startswith(" "):
            mine = line.startswith(f"{tag}: ")
        elif mine and line.startswith(prefix):
            name, chain = line[len(prefix) :].split(": ", 1)
            chains[name] = chain
    return chains


def test_why_gives_the_chain_explain_gave(builder: Builder) -> None:
    built = builder.cli(ROOT / "recipes" / "nginx.py", "--explain")
    assert built.returncode == 0, built.stderr
    chains = explained(built.stderr)
    assert "nginx-filesystem" in chains
    for name, chain in chains.items():
        result = command(builder, "why", "localhost/nginx:latest", name)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == f"why {name}: {chain}"
    unknown = command(builder, "why", "localhost/nginx:latest", "ngnix")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        "buildahpy: localhost/nginx:latest: package 'ngnix' is not installed in the image"
    ]


def test_why_on_a_based_image_starts_at_the_base_too(builder: Builder) -> None:
    recipes = builder.recipe(
        "based.py",
        "from buildahpy import recipe\n\n"
        '@recipe("localhost/wbase:latest")\n'
        "def wbase(image):\n"
        "    image.install('glibc-minimal-langpack', 'bash')\n\n"
        '@recipe("localhost/wapp:latest", base=wbase)\n'
        "def wapp(image):\n"
        "    image.install('busybox')\n",
    )
    built = builder.cli(recipes, "--explain")
    assert built.returncode == 0, built.stderr
    chains = explained(built.stderr, "localhost/wapp:latest")
    assert chains["glibc"] == "glibc (in the base image)"
    assert chains["busybox"] == "busybox (requested)"
    for name, chain in chains.items():
        result = command(builder, "why", "localhost/wapp:latest", name)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == f"why {name}: {chain}"


def test_why_on_an_image_that_does_not_record_its_request(builder: Builder) -> None:
    built = builder.cli(ROOT / "recipes" / "nginx.py")
    assert built.returncode == 0, built.stderr
    # a copy without buildahpy's record of the request, as any other builder's image is
    name = builder.tool("buildah", "from", "--pull=never", "localhost/nginx:latest").strip()
    try:
        builder.tool("buildah", "config", "--label", "io.buildahpy.requested-", name)
        builder.tool("buildah", "commit", "--quiet", name, "localhost/foreign:latest")
    finally:
        builder.tool("buildah", "rm", name)
    labels = builder.inspect("localhost/foreign:latest")["OCIv1"]["config"]["Labels"]
    assert "io.buildahpy.requested" not in labels
    result = command(builder, "why", "localhost/foreign:latest", "nginx-filesystem")
    assert result.returncode == 0, result.stderr
    note, chain, *_ = result.stdout.splitlines()
    assert "does not say what was asked for" in note
    # nothing in the image requires nginx: it is where the chain starts
    assert chain == (
        "why nginx-filesystem: nginx-filesystem (nginx-filesystem) <- nginx (nothing requires it)"
    )


def test_budget_failure_keeps_the_previous_image_under_the_tag(builder: Builder) -> None:
    budget = ', max_growth="5%"'
    first = builder.cli(changing(builder, SMALL, "one", budget))
    assert first.returncode == 0, first.stderr
    old_id = builder.image_id(TAG)
    images_before = sorted(builder.tool("buildah", "images", "-q", "--all").split())
    grown = builder.cli(changing(builder, [*SMALL, "busybox"], "two", budget))
    assert grown.returncode == 1, grown.stderr
    failure = [line for line in grown.stderr.splitlines() if line.startswith("buildahpy:")]
    assert len(failure) == 1, grown.stderr
    assert "over max_growth 5%" in failure[0]
    assert "largest packages: glibc " in failure[0]
    assert "busybox added +" in failure[0]
    assert "the tag was not moved" in failure[0]
    assert builder.image_id(TAG) == old_id
    assert sorted(builder.tool("buildah", "images", "-q", "--all").split()) == images_before

    tight = builder.recipe(
        "tight.py",
        "from buildahpy import recipe\n\n"
        '@recipe("localhost/tight:latest", max_size="1 kB")\n'
        "def tight(image):\n"
        "    image.install('bash')\n",
    )
    over = builder.cli(tight)
    assert over.returncode == 1
    assert "is over max_size 1 kB" in over.stderr
    assert builder.image_id("localhost/tight:latest") is None
