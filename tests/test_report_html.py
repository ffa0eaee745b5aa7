"""The fleet report as data and pages: why each package is there, earlier reports carried and
charted, and HTML that shows the JSON's numbers and escapes what recipes and packages say."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from htmltables import Page

from buildahpy.__main__ import main
from buildahpy.api.recipe import load_files
from buildahpy.build.context import BuildResult
from buildahpy.build.sizes import human_size
from buildahpy.fleet import driver, graph, history, report_html, summary
from buildahpy.fleet.fleet import BUILT, UP_TO_DATE, Entry
from buildahpy.fleet.history import Earlier
from buildahpy.fleet.jobs import index_images
from buildahpy.plan import contents
from buildahpy.plan.packages import Package


def pkg(name: str, requires=(), provides=(), sizes=(10,)) -> Package:  # type: ignore[no-untyped-def]
    files = tuple(
        (f"/usr/lib/{name}/{i}", size, 0, "normal", "", 1) for i, size in enumerate(sizes)
    )
    not_installed = ((f"/usr/share/doc/{name}", 999, 2, "not installed", "", 1),)
    return Package(
        name,
        f"{name}-1-1.x86_64",
        1,
        tuple((r, 0) for r in requires),
        (),
        tuple(provides),
        files + not_installed,
    )


PACKAGES = {
    "nginx": pkg("nginx", ["libssl.so.3", "libc.so.6"], sizes=(100, 20)),
    "openssl-libs": pkg("openssl-libs", ["libc.so.6"], ["libssl.so.3"], sizes=(50,)),
    "glibc": pkg("glibc", provides=["libc.so.6"], sizes=(300,)),
    "setup": pkg("setup", sizes=(1,)),
    "leftover": pkg("leftover", sizes=(7,)),
    "fedora-release": pkg("fedora-release", sizes=(2,)),
}


def test_each_package_has_its_bytes_and_the_chain_from_its_root() -> None:
    roots = contents.roots_with_reasons(["nginx"], [], [], ["fedora-release"])
    found = {c.nevra.split("-1-1")[0]: c for c in contents.contents(PACKAGES, roots, weak=False)}
    assert found["openssl-libs"].why == (("nginx", "requested"), ("openssl-libs", "libssl.so.3"))
    assert found["glibc"].why == (("nginx", "requested"), ("glibc", "libc.so.6"))
    assert found["nginx"].size == 120  # the files rpm installed, not the doc it skipped
    assert found["fedora-release"].why == (("fedora-release", contents.RELEASE_FILE),)
    assert found["setup"].why == (("setup", contents.IMAGE_STATE),)
    assert found["leftover"].why == (("leftover", contents.UNREACHED),)
    assert [c.nevra for c in found.values()] == sorted(c.nevra for c in found.values())


def test_a_package_of_the_base_stops_its_chain_at_the_base() -> None:
    roots = contents.roots_with_reasons(["nginx"], ["glibc", "nginx"], ["leftover"], [])
    found = {c.nevra.split("-1-1")[0]: c for c in contents.contents(PACKAGES, roots, weak=False)}
    assert found["glibc"].why == (("glibc", contents.FROM_BASE),)
    assert found["nginx"].why == (("nginx", "requested"),)  # named again: requested first
    assert found["leftover"].why == (("leftover", contents.RECIPE_PATH),)
    as_json = found["openssl-libs"].as_json()
    assert as_json == {
        "nevra": "openssl-libs-1-1.x86_64",
        "size": 50,
        "why": [["nginx", "requested"], ["openssl-libs", "libssl.so.3"]],
    }


def item(nevra: str, size: int, *why: list[str]) -> dict[str, Any]:
    return {"nevra": nevra, "size": size, "why": [list(step) for step in why]}


HOSTILE = '<script>alert("x")</script>&'


def report(**extra: Any) -> dict[str, Any]:
    """A report as summary.report writes it: a base, an image on it, a failure."""
    base_contents = [
        item("glibc-2-1.x86_64", 3000, ["glibc", "requested"]),
        item("bash-5-1.x86_64", 1000, ["bash", "requested"]),
    ]
    app_contents = [
        item("glibc-2-1.x86_64", 3000, ["glibc", contents.FROM_BASE]),
        item("bash-5-1.x86_64", 1000, ["bash", contents.FROM_BASE]),
        item(f"evil{HOSTILE}-1-1.x86_64", 500, ["evil", "requested"], ["x", HOSTILE]),
    ]
    images = [
        {
            "recipe": "base",
            "tag": "localhost/base:latest",
            "role": "target",
            "status": "built",
            "image_id": "a" * 64,
            "size": 4100,
            "packages": ["bash-5-1.x86_64", "glibc-2-1.x86_64"],
            "base": None,
            "own_packages": ["bash-5-1.x86_64", "glibc-2-1.x86_64"],
            "unique_packages": [],
            "own_bytes": 4100,
            "contents": base_contents,
            "contents_from": "build",
            "error": None,
        },
        {
            "recipe": "app",
            "tag": "localhost/app:latest",
            "role": "target",
            "status": "built",
            "image_id": "b" * 64,
            "size": 4650,
            "packages": sorted(i["nevra"] for i in app_contents),
            "base": "localhost/base:latest",
            "own_packages": [f"evil{HOSTILE}-1-1.x86_64"],
            "unique_packages": [f"evil{HOSTILE}-1-1.x86_64"],
            "own_bytes": 550,
            "contents": app_contents,
            "contents_from": "build",
            "error": None,
        },
        {
            "recipe": "broken",
            "tag": "localhost/broken:latest",
            "role": "target",
            "status": "failed",
            "image_id": None,
            "size": None,
            "packages": [],
            "base": None,
            "own_packages": [],
            "unique_packages": [],
            "own_bytes": None,
            "contents": [],
            "contents_from": None,
            "error": f"package {HOSTILE} not found",
        },
    ]
    totals = {"images": 3, "size": 8750, "distinct_packages": 3, "own_bytes": 4650}
    return {"images": images, "totals": totals, "created": "2026-12-02T10:00:00Z", **extra}


def test_the_pages_hold_the_reports_numbers() -> None:
    data = report()
    pages = report_html.pages(data)
    assert set(pages) == {"index.html", "image-base.html", "image-app.html", "image-broken.html"}
    index = Page(pages["index.html"])
    rows = {row.attributes["data-recipe"]: row for row in index.rows("images")}
    size, count = index.column("images", "Size"), index.column("images", "Packages")
    for image in data["images"]:
        row = rows[image["recipe"]]
        if image["size"] is None:
            assert row.cells[size].text == "-" and "data-value" not in row.cells[size].attributes
            continue
        assert row.cells[size].attributes["data-value"] == str(image["size"])
        assert row.cells[size].text == human_size(image["size"])
        assert row.cells[count].text == str(len(image["packages"]))
    assert rows["app"].cells[index.column("images", "Base")].links == ["image-base.html"]
    assert index.ids["total-distinct_packages"]["data-value"] == "3"
    largest = index.rows("largest")
    nevras = [r.attributes["data-nevra"] for r in largest]
    assert nevras[:2] == ["glibc-2-1.x86_64", "bash-5-1.x86_64"]
    assert largest[0].cells[index.column("largest", "Images")].text == "2"
    assert "history" not in index.ids  # no earlier reports given


def test_an_image_page_lists_each_package_with_why_and_who_shares_it() -> None:
    page = Page(report_html.pages(report())["image-app.html"])
    rows = {row.attributes["data-nevra"]: row for row in page.rows("packages")}
    assert len(rows) == 3
    glibc = rows["glibc-2-1.x86_64"]
    why, also = page.column("packages", "Why"), page.column("packages", "Also in")
    # a package of the base: the base's own chain, linked to the base's page
    assert glibc.cells[why].text.split() == ["in", "base:", "glibc", "(requested)"]
    assert glibc.cells[also].links == ["image-base.html"]
    evil = rows[f"evil{HOSTILE}-1-1.x86_64"]
    assert evil.cells[page.column("packages", "Size")].attributes["data-value"] == "500"
    assert HOSTILE in evil.cells[why].text and evil.cells[also].text == "-"


def test_what_recipes_and_packages_say_is_escaped_and_nothing_is_loaded() -> None:
    for name, text in report_html.pages(report()).items():
        assert "<script" not in text, name
        tags = Page(text).tags
        assert not [t for t, a in tags if t in ("script", "link", "img", "iframe", "object")]
        assert not [a for _t, a in tags if "src" in a or a.get("href", "").startswith("http")]
        assert "Content-Security-Policy" in text
    broken = Page(report_html.pages(report())["image-broken.html"])
    assert HOSTILE in broken.text_of_id["facts"]


def test_odd_recipe_names_get_safe_file_names() -> None:
    assert report_html.page_name("web_1") == "image-web_1.html"
    odd = report_html.page_name("../caf\u00e9")
    assert "/" not in odd and odd.startswith("image-") and odd.endswith(".html")


def earlier(name: str, created: str, data: dict[str, Any]) -> Earlier:
    return Earlier(name, created, data)


def up_to_date(data: dict[str, Any], recipe: str) -> dict[str, Any]:
    """The same image in a later run that did not rebuild it: no contents of its own."""
    image = next(i for i in data["images"] if i["recipe"] == recipe)
    image.update(status="up-to-date", contents=[], contents_from=None)
    return image


def test_an_image_not_rebuilt_carries_its_contents_from_the_newest_report_with_its_id() -> None:
    old, older = report(), report()
    older["images"][0]["contents"] = [item("glibc-2-1.x86_64", 1, ["glibc", "stale"])]
    now = report(created="2026-12-03T00:00:00Z")
    image = up_to_date(now, "base")
    other = up_to_date(now, "app")
    other["image_id"] = "c" * 64  # no report has this one
    history.carry_contents(
        now, [earlier("older.json", "2026-12-01", older), earlier("old.json", "2026-12-02", old)]
    )
    assert image["contents"] == old["images"][0]["contents"]
    assert image["contents_from"] == "report old.json"
    assert other["contents"] == [] and other["contents_from"] == history.FROM_LABELS
    page = Page(report_html.pages(now)["image-app.html"])
    rows = page.rows("packages")
    assert {r.attributes["data-nevra"] for r in rows} == set(other["packages"])  # from the label
    assert all(r.cells[page.column("packages", "Size")].text == "-" for r in rows)


def test_contents_of_another_shape_are_not_carried() -> None:
    old = report()
    old["images"][0]["contents"] = [{"nevra": "x", "size": "big", "why": []}]
    now = report()
    image = up_to_date(now, "base")
    history.carry_contents(now, [earlier("old.json", "2026-12-01", old)])
    assert image["contents"] == [] and image["contents_from"] == history.FROM_LABELS


def test_history_reads_reports_in_time_order_and_leaves_other_files_out(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(report(created="2026-12-01T00:00:00Z")))
    (tmp_path / "a.json").write_text(json.dumps(report(created="2026-12-02T00:00:00Z")))
    (tmp_path / "notes.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    undated = report()
    del undated["created"]
    previous = tmp_path / "elsewhere" / "fleet.json"
    previous.parent.mkdir()
    previous.write_text(json.dumps(undated))
    os.utime(previous, (1_700_000_000, 1_700_000_000))  # 2023-11-14: the file's time
    found = history.load(tmp_path, previous)
    assert [e.name for e in found] == ["fleet.json", "b.json", "a.json"]
    assert found[0].created == "2023-11-14T22:13:20Z"
    assert [e.name for e in history.load(tmp_path, tmp_path / "a.json")] == ["b.json", "a.json"]


def test_size_history_is_one_point_per_run_charted_on_every_page() -> None:
    first, second = report(created="2026-12-01T00:00:00Z"), report(created="2026-12-02T00:00:00Z")
    first["images"][1]["size"] = 4000
    now = report()
    runs = [
        earlier("1.json", first["created"], first),
        earlier("2.json", second["created"], second),
    ]
    runs.append(earlier("2-again.json", second["created"], second))  # the same run twice
    pages = report_html.pages(now, runs)
    index = Page(pages["index.html"])
    assert "history" in index.ids
    sizes = [int(a["data-size"]) for t, a in index.tags if t == "circle"]
    # base and app: 3 runs each (the one given twice counts once); the failed image has no size
    assert sorted(sizes) == sorted([4100, 4100, 4100, 4000, 4650, 4650])
    page = Page(pages["image-app.html"])
    assert [int(a["data-size"]) for t, a in page.tags if t == "circle"] == [4000, 4650, 4650]


def test_pages_are_written_whole_into_the_directory(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "image-gone.html").write_text("an image of an earlier run")
    (tmp_path / "out" / "notes.txt").write_text("the user's")
    index = report_html.write(tmp_path / "out", report_html.pages(report()))
    assert index == tmp_path / "out" / "index.html"
    assert sorted(p.name for p in index.parent.iterdir()) == [
        "image-app.html", "image-base.html", "image-broken.html", "index.html", "notes.txt",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--history", "{tmp}/none"], "--history {tmp}/none: no such directory"),
        (["--report-html", "{tmp}/file"], "--report-html {tmp}/file: not a directory"),
        (["--report-html", "{tmp}/d", "--check-reproducible"], "does not go with"),
    ],
)
def test_report_options_are_checked_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "file").write_text("")
    given = [arg.format(tmp=tmp_path) for arg in args]
    assert main([*given, str(tmp_path / "missing-recipes.py")]) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err


TWO = """
from buildahpy import recipe

@recipe("localhost/a")
def a(image):
    image.install("a")

@recipe("localhost/b")
def b(image):
    image.install("b")
"""


def test_a_run_writes_both_reports_and_carries_what_it_did_not_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "two.py"
    path.write_text(TWO)
    recipes = load_files([path])
    node_a, node_b = graph.closure(recipes, recipes)
    content = contents.Content("a-1-1.x86_64", 10, (("a", "requested"),))
    result = BuildResult("a", "localhost/a:latest", "id-a", 100, ("a-1-1.x86_64",), 1.0, None)
    built = Entry(
        node_a, status=BUILT, image_id="id-a", result=attrs.evolve(result, contents=(content,))
    )
    kept = Entry(node_b, status=UP_TO_DATE, image_id="id-b")
    labels = {"io.buildahpy.packages": "b-1-1.x86_64"}
    raw = [{"Id": "id-b", "Size": 50, "RepoTags": ["localhost/b:latest"], "Labels": labels}]
    images = index_images(raw)
    table = summary.rows([built, kept], images)
    data = summary.report(table, summary.fleet_shares(table, images), 1.0)
    previous = tmp_path / "fleet.json"
    carried = [item("b-1-1.x86_64", 40, ["b", "requested"])]
    old_b = {"recipe": "b", "image_id": "id-b", "size": 50, "contents": carried}
    previous.write_text(json.dumps({"images": [old_b], "created": "2026-01-01T00:00:00Z"}))
    driver.write_reports(data, previous, tmp_path / "html", None)
    written = {i["recipe"]: i for i in json.loads(previous.read_text())["images"]}
    assert written["a"]["contents"] == [content.as_json()]
    assert written["a"]["contents_from"] == "build"
    assert written["b"]["contents"] == carried
    assert written["b"]["contents_from"] == "report fleet.json"
    assert json.loads(previous.read_text())["created"] > "2026-01-01T00:00:00Z"
    index = tmp_path / "html" / "index.html"
    assert capsys.readouterr().out == f"fleet report: {index}\n"
    page = Page((tmp_path / "html" / "image-b.html").read_text())
    (row,) = page.rows("packages")
    assert row.cells[page.column("packages", "Size")].attributes["data-value"] == "40"
    # the chart: the earlier run and this one
    assert [a["data-size"] for t, a in page.tags if t == "circle"] == ["50", "50"]


def test_two_runs_within_one_second_are_two_points() -> None:
    first: dict[str, Any] = {"images": [{"recipe": "a", "size": 1}]}
    second: dict[str, Any] = {"images": [{"recipe": "a", "size": 1}]}
    history.stamp(first, now=1_700_000_000.25)
    history.stamp(second, now=1_700_000_000.75)
    assert first["created"] == "2023-11-14T22:13:20.250000Z"
    points = history.series([(first["created"], first), (second["created"], second)])
    assert len(points["a"]) == 2
