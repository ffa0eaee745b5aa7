"""Smaller than the talk without thinking: real builds against the fixture repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import ROOT, Builder
from rpmkit import build_rpm, make_repo

pytestmark = pytest.mark.integration

AUTO = """from buildahpy import recipe

@recipe("localhost/nginx-auto")
def nginx_auto(image):
    image.install("nginx")

@recipe("localhost/nginx-talk", alternatives=False, prune=False, langs="all")
def nginx_talk(image):
    image.install("glibc-minimal-langpack", "coreutils-single", "nginx")
"""


def test_install_nginx_alone_is_no_larger_than_the_talks_hand_tuned_recipe(
    builder: Builder,
) -> None:
    result = builder.cli(builder.recipe("auto.py", AUTO))
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/nginx-auto") as root:
        names = set(builder.packages(root))
        assert {"nginx", "glibc-minimal-langpack", "coreutils-single"} <= names
        # the large providers were never installed; the shell the %pre needed was pruned
        assert not {"glibc-all-langpacks", "coreutils", "bash", "ncurses-libs"} & names
        assert not os.path.lexists(root / "usr/bin/bash")
        assert any(line.startswith("nginx:") for line in (root / "etc/passwd").read_text().split())
    assert builder.run_in("localhost/nginx-auto", "/usr/sbin/nginx", "-t").returncode == 0
    assert builder.size("localhost/nginx-auto") <= builder.size("localhost/nginx-talk")
    report = next(line for line in result.stderr.splitlines() if "saved: docs" in line)
    assert "(bash, ncurses-libs)" in report
    assert "coreutils-single (not coreutils)" in result.stderr


def test_named_packages_are_never_swapped_or_pruned(builder: Builder) -> None:
    body = (
        "from buildahpy import recipe\n\n@recipe('localhost/named')\n"
        "def named(image):\n    image.install('nginx', 'coreutils', 'bash')\n"
    )
    result = builder.cli(builder.recipe("named.py", body))
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/named") as root:
        names = set(builder.packages(root))
    assert {"coreutils", "bash", "ncurses-libs"} <= names
    assert "coreutils-single" not in names


def test_only_the_chosen_languages_are_unpacked(builder: Builder) -> None:
    body = (
        "from buildahpy import recipe\n\n@recipe('localhost/c-only')\n"
        "def c_only(image):\n    image.install('bash')\n\n"
        "@recipe('localhost/german', langs=['de'])\n"
        "def german(image):\n    image.install('bash')\n"
    )
    result = builder.cli(builder.recipe("langs.py", body))
    assert result.returncode == 0, result.stderr
    with builder.mounted("localhost/c-only") as root:
        assert not list((root / "usr/share/locale").glob("*/LC_MESSAGES/*.mo"))
    with builder.mounted("localhost/german") as root:
        found = {p.parts[-3] for p in (root / "usr/share/locale").glob("*/LC_MESSAGES/*.mo")}
    assert found == {"de"}


def test_a_hard_requirement_on_a_large_provider_still_builds(
    builder: Builder, tmp_path: Path
) -> None:
    rpm = build_rpm(tmp_path, "wants-all-langs", "Requires: glibc-all-langpacks\n")
    extra = make_repo(tmp_path / "extra", [rpm])
    body = (
        "from buildahpy import recipe\n\n@recipe('localhost/all-langs')\n"
        "def all_langs(image):\n    image.install('wants-all-langs')\n"
    )
    result = builder.cli(builder.recipe("all.py", body), "--repo-file", extra)
    assert result.returncode == 0, result.stderr
    assert "small alternatives do not fit" in result.stderr
    with builder.mounted("localhost/all-langs") as root:
        assert "glibc-all-langpacks" in builder.packages(root)


def test_explain_says_why_and_measures_what_resolution_saved(builder: Builder) -> None:
    result = builder.cli(ROOT / "recipes" / "nginx.py", "--explain")
    assert result.returncode == 0, result.stderr
    assert "why openssl-libs: openssl-libs (libcrypto.so.3()(64bit)) <- nginx (requested)" in (
        result.stderr
    )
    saved = [line for line in result.stderr.splitlines() if "saved by resolution" in line]
    assert saved and "weak deps 0 B" not in saved[0]
