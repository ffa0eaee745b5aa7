"""scripts/chaos's audit sees damage: a stray working container and a ``:pending`` image are
leaks after gc, a byte changed in a tagged image's layer is a damaged tag (the quick audit,
which skips images it checked before, does not look again; the full one does), a cut --sbom
file is damaged, a pool package with other bytes is a damaged cache file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from chaos_lab import Lab, lab  # found through the path set just above

pytestmark = pytest.mark.integration


@pytest.fixture
def built(fixture_repo: Path, real_tools: None) -> Iterator[Lab]:
    with lab(fixture_repo.parent, "audit") as here:
        done = here.cli(here.recipes, "--jobs", "2")
        assert done.returncode == 0, done.stderr
        yield here


def test_a_clean_storage_has_nothing_to_report(built: Lab) -> None:
    built.gc()
    assert (built.leaks(), built.damaged_tags(), built.damaged_cache()) == ([], [], [])


def test_a_stray_container_and_a_pending_image_are_leaks(built: Lab) -> None:
    built.tool("buildah", "from", "--name", "stray", "localhost/chaos/a")
    image = built.tool("buildah", "images", "--quiet", "--no-trunc", "localhost/chaos/b").strip()
    built.tool("buildah", "tag", image, "localhost/stray:pending")
    built.gc()  # neither is a name of ours: gc leaves both
    assert sorted(built.leaks()) == ["container stray", "image localhost/stray:pending"]


def test_a_changed_byte_in_a_tagged_layer_is_a_damaged_tag(built: Lab) -> None:
    assert built.damaged_tags(quick=True) == []  # checks, and remembers, both images
    layers = sorted((built.base / "graph" / "overlay").glob("*/diff/usr/sbin/busybox"))
    assert len(layers) == 1, layers
    data = bytearray(layers[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    layers[0].write_bytes(bytes(data))
    assert built.damaged_tags(quick=True) == []  # the same id: not looked at again
    (damaged,) = built.damaged_tags()
    assert damaged.startswith("localhost/chaos/a:latest: rpm -Va:") and "busybox" in damaged


def test_a_cut_sbom_and_a_changed_pool_package_are_damage(built: Lab) -> None:
    built.sboms.mkdir()
    (built.sboms / "a.cdx.json").write_text('{"bomFormat": "Cyclo')
    assert [d.split(":")[0] for d in built.damaged_tags()] == ["sbom a.cdx.json"]
    (source,) = (built.fixture / "Packages").glob("busybox-[0-9]*.rpm")
    package = built.cache / "dnf4" / "pool" / "fixture" / "packages" / source.name
    package.parent.mkdir(parents=True, exist_ok=True)
    package.write_bytes(source.read_bytes()[:-1])  # a download cut short, kept as if whole
    assert built.damaged_cache() == [str(package)]
