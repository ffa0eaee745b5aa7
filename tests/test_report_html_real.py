"""The fleet report of real builds: what the JSON says each image holds is what its rpmdb holds,
images not rebuilt keep their data, and the HTML pages, as a browser renders them, show the
JSON's numbers.

The browser test runs headless Chromium in the host lane only. The sid lane's tree would need
chromium and its ~120 dependencies (about 290 MB installed, every day's tree); the pages are
static HTML and CSS whose rendering depends on no tool of the lane, and the data they show,
which does (dnf, rpm and buildah versions), is checked in both lanes by the first test, which
reads the same pages with Python's HTML parser. ``scripts/sid-lane`` sets BUILDAHPY_LANE=sid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import Builder, unavailable
from htmltables import Page

from buildahpy.build.sizes import human_size

pytestmark = pytest.mark.integration

FLEET = """
from buildahpy import recipe

@recipe("localhost/report-base")
def report_base(image):
    image.install("glibc-minimal-langpack", "bash", "coreutils-single")

@recipe("localhost/report-busybox", base=report_base)
def report_busybox(image):
    image.install("busybox")
"""


# name-version-release.arch, as the report and the packages label name a package
NVRA = "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}"


def images_of(path: Path) -> dict[str, dict[str, Any]]:
    return {image["recipe"]: image for image in json.loads(path.read_text())["images"]}


def two_runs(builder: Builder) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """A run that builds both images (its report kept in a history directory), then one that
    finds them up to date. Returns both runs' images and the second run's HTML directory."""
    recipes = builder.recipe("fleet.py", FLEET)
    history, html = builder.tmp_path / "history", builder.tmp_path / "html"
    history.mkdir()
    first = builder.cli(recipes, "--report", history / "run1.json", "--report-html", html)
    assert first.returncode == 0, first.stderr
    assert f"fleet report: {html / 'index.html'}" in first.stdout
    report = builder.tmp_path / "fleet.json"
    second = builder.cli(recipes, "--report", report, "--report-html", html, "--history", history)
    assert second.returncode == 0, second.stderr
    return images_of(history / "run1.json"), images_of(report), html


def rpm_query(builder: Builder, root: Path, *args: str) -> list[str]:
    out = subprocess.run(
        ["rpm", f"--root={root}", "--dbpath=/usr/lib/sysimage/rpm", "-q", *args],
        env=dict(builder.env, HOME=str(builder.tmp_path)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


def test_the_report_says_what_each_image_holds_and_why(builder: Builder) -> None:
    first, second, html = two_runs(builder)
    base, busybox = first["report_base"], first["report_busybox"]
    assert base["contents_from"] == "build" and busybox["contents_from"] == "build"
    with builder.mounted("localhost/report-base:latest") as root:
        nevras = rpm_query(builder, root, "-a", "--qf", f"{NVRA}\\n")
        bash_requires = rpm_query(builder, root, "--requires", "bash")
        ncurses_provides = rpm_query(builder, root, "--provides", "ncurses-libs")
        # rpm 6's v6 headers have no SIZE: LONGSIZE, which rpm 4 derives from it
        query = rpm_query(builder, root, "-a", "--qf", f"{NVRA} %{{LONGSIZE}}\\n")
        headers = dict(line.split(" ") for line in query)
    assert sorted(c["nevra"] for c in base["contents"]) == sorted(nevras) == base["packages"]
    by_name = {c["nevra"].rsplit("-", 2)[0]: c for c in base["contents"]}
    (root_step, (name, capability)) = by_name["ncurses-libs"]["why"]
    assert root_step == ["bash", "requested"] and name == "ncurses-libs"
    assert any(line.startswith(capability) for line in bash_requires)
    assert any(line.startswith(capability) for line in ncurses_provides)
    for content in base["contents"]:  # files installed: at most the header's size (no docs)
        assert 0 <= content["size"] <= int(headers[content["nevra"]])
    assert by_name["bash"]["size"] > 0
    # the dependent: its own package requested, the base's marked as the base's
    own = {c["nevra"].rsplit("-", 2)[0]: c["why"] for c in busybox["contents"]}
    assert own["busybox"] == [["busybox", "requested"]]
    assert own["ncurses-libs"] == [["ncurses-libs", "in the base image"]]
    # not rebuilt: the same image, its contents carried from the report that built it
    for recipe, image in second.items():
        assert image["status"] == "up-to-date" and image["image_id"] == first[recipe]["image_id"]
        assert image["contents"] == first[recipe]["contents"]
        assert image["contents_from"] == "report run1.json"
    # the pages, as Python's parser reads them, show those numbers
    assert_pages_show(html, second, lambda path: path.read_text())


def assert_pages_show(html: Path, images: dict[str, dict[str, Any]], read: Any) -> None:
    index = Page(read(html / "index.html"))
    rows = {row.attributes["data-recipe"]: row for row in index.rows("images")}
    assert set(rows) == set(images)
    size, count = index.column("images", "Size"), index.column("images", "Packages")
    status = index.column("images", "Status")
    for recipe, image in images.items():
        cells = rows[recipe].cells
        assert cells[size].attributes["data-value"] == str(image["size"])
        assert cells[size].text.strip() == human_size(image["size"])
        assert cells[count].text.strip() == str(len(image["packages"]))
        assert cells[status].text.strip() == image["status"]
    distinct = {p for image in images.values() for p in image["packages"]}
    assert index.ids["total-distinct_packages"]["data-value"] == str(len(distinct))
    charts = [a for tag, a in index.tags if tag == "circle"]
    assert sorted(int(a["data-size"]) for a in charts) == sorted(
        [image["size"] for image in images.values()] * 2  # two runs each
    )
    for recipe, image in images.items():
        page = Page(read(html / f"image-{recipe}.html"))
        shown = {
            row.attributes["data-nevra"]: row.cells[page.column("packages", "Size")]
            for row in page.rows("packages")
        }
        assert {nevra: cell.attributes["data-value"] for nevra, cell in shown.items()} == {
            c["nevra"]: str(c["size"]) for c in image["contents"]
        }


def chromium() -> str:
    if os.environ.get("BUILDAHPY_LANE") == "sid":
        pytest.skip("the browser test runs in the host lane only (see the module's docstring)")
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        unavailable("chromium is missing (scripts/install-deps installs it)")
    assert found is not None
    return found


def browser(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_a_browser_renders_the_pages_with_the_runs_numbers(builder: Builder) -> None:
    binary = chromium()
    _first, second, html = two_runs(builder)
    profile = builder.tmp_path / "chromium-profile"

    def dom(path: Path) -> str:
        return browser(binary, profile, "--dump-dom", path.as_uri()).stdout

    assert "<title>Fleet report</title>" in dom(html / "index.html")
    assert_pages_show(html, second, dom)
    shot = builder.tmp_path / "report.png"
    browser(
        binary,
        profile,
        "--window-size=1280,900",
        f"--screenshot={shot}",
        (html / "index.html").as_uri(),
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, len(data)
