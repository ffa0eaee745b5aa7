"""The fleet report as static HTML (``--report-html DIR``): ``index.html`` for the fleet and one
page per image (``image-<recipe>.html``), in the spirit of Fedora's Content Resolver.

Everything is read from the run's JSON report (the dict ``summary.report`` makes, with the
contents carried by ``history.carry_contents``) and the earlier reports of ``--history``, so the
pages show exactly the JSON's numbers. Self-contained: inline CSS and SVG, no script, a Content
Security Policy that loads nothing; every string from a recipe, a package or a report is
HTML-escaped. Pure but for writing the files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from buildahpy import __version__
from buildahpy.build.sizes import human_size
from buildahpy.fleet import report_image
from buildahpy.fleet.history import Earlier
from buildahpy.fleet.report_cells import Fleet, fleet_of, link, num, page_name, size_cell
from buildahpy.fleet.report_svg import size_chart
from buildahpy.host import atomic

INDEX = "index.html"
LARGEST = 20  # rows of the largest-contributors table


def page(title: str, crumbs: str, meta: str, body: str) -> str:
    template = resources.files("buildahpy.fleet").joinpath("report_page.html").read_text()
    return Template(template).substitute(
        title=escape(title), crumbs=crumbs, meta=meta, body=body, version=escape(__version__)
    )


def images_table(fleet: Fleet) -> str:
    head = (
        "<tr><th>Image</th><th>Tag</th><th>Status</th><th>Role</th><th>Base</th>"
        '<th class="num">Size</th><th class="num">Packages</th><th class="num">Own</th>'
        '<th class="num">Unique</th><th class="num">Own bytes</th><th>Image ID</th>'
        "<th>Contents from</th></tr>"
    )
    rows = []
    for image in fleet.images:
        recipe, status = str(image.get("recipe")), str(image.get("status"))
        ok = image.get("size") is not None
        rows.append(
            f'<tr data-recipe="{escape(recipe)}"><td>{link(recipe)}</td>'
            f"<td><code>{escape(str(image.get('tag')))}</code></td>"
            f'<td class="status-{escape(status)}">{escape(status)}</td>'
            f"<td>{escape(str(image.get('role')))}</td>"
            f"<td>{report_image.base_cell(image, fleet)}</td>"
            + size_cell(image.get("size"))
            + num(len(image.get("packages") or []) if ok else None)
            + num(len(image.get("own_packages") or []) if ok else None)
            + num(len(image.get("unique_packages") or []) if ok else None)
            + size_cell(image.get("own_bytes"))
            + f"<td><code>{escape(str(image.get('image_id') or '-')[:12])}</code></td>"
            f"<td>{escape(str(image.get('contents_from') or '-'))}</td></tr>"
        )
    return f'<table id="images">{head}{"".join(rows)}</table>'


def totals_cards(data: Mapping[str, Any]) -> str:
    totals = data.get("totals")
    totals = totals if isinstance(totals, dict) else {}
    cards = [
        ("images", "images", None),
        ("size", "total size", human_size),
        ("distinct_packages", "distinct packages (attack surface)", None),
        ("own_bytes", "stored once (own layers)", human_size),
    ]
    found = []
    for key, label, shown in cards:
        value = totals.get(key)
        if isinstance(value, int):
            text = shown(value) if shown else str(value)
            found.append(
                f'<div class="card" id="total-{key}" data-value="{value}">'
                f'<div class="value">{escape(text)}</div><div class="label">{label}</div></div>'
            )
    return f'<div class="cards">{"".join(found)}</div>'


def largest_table(fleet: Fleet) -> str:
    ranked = sorted(fleet.holders, key=lambda n: (-fleet.sizes.get(n, -1), n))[:LARGEST]
    top = max([fleet.sizes.get(n, 0) for n in ranked] or [0]) or 1
    rows = []
    for nevra in ranked:
        size, names = fleet.sizes.get(nevra), fleet.holders[nevra]
        width = round(120 * (size or 0) / top)
        rows.append(
            f'<tr data-nevra="{escape(nevra)}"><td><code>{escape(nevra)}</code></td>'
            + size_cell(size)
            + f'<td><span class="bar" style="width:{width}px"></span></td>'
            + num(len(names))
            + f"<td>{', '.join(link(name) for name in names)}</td></tr>"
        )
    return (
        '<table id="largest"><tr><th>Package</th><th class="num">Size</th><th></th>'
        f'<th class="num">Images</th><th>In</th></tr>{"".join(rows)}</table>'
    )


def history_section(fleet: Fleet) -> str:
    if not fleet.has_history:
        return ""
    figures = [
        f'<figure data-recipe="{escape(recipe)}">{size_chart(points, recipe)}'
        f"<figcaption>{link(recipe)}: {len(points)} runs</figcaption></figure>"
        for recipe, points in sorted(fleet.series.items())
        if recipe in fleet.by_recipe()
    ]
    return f'<h2 id="history">Size history</h2><div>{"".join(figures)}</div>'


def index_page(data: Mapping[str, Any], fleet: Fleet) -> str:
    distinct = len(fleet.holders)
    body = (
        totals_cards(data)
        + '<h2 id="fleet">Images</h2>'
        + images_table(fleet)
        + f'<h2 id="surface">Attack surface: {distinct} distinct packages</h2>'
        + "<p>Every package of the fleet's images counts once; the largest, with the images "
        "that carry them:</p>" + largest_table(fleet) + history_section(fleet)
    )
    meta = f"run of {escape(fleet.created)}" if fleet.created else ""
    return page("Fleet report", "buildahpy", meta, body)


def pages(data: Mapping[str, Any], earlier: Sequence[Earlier] = ()) -> dict[str, str]:
    """File name -> HTML, for the index and every image of the report."""
    fleet = fleet_of(data, earlier)
    found = {INDEX: index_page(data, fleet)}
    for image in fleet.images:
        recipe = str(image.get("recipe"))
        body, meta = report_image.image_body(image, fleet)
        crumbs = f'<a href="{INDEX}">Fleet report</a>'
        found[page_name(recipe)] = page(recipe, crumbs, meta, body)
    return found


def write(directory: Path, written: Mapping[str, str]) -> Path:
    """Each page whole or not at all (a reader never sees half a page), and no page left of an
    image an earlier run had and this one has not; returns the index."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in written.items():
        atomic.write_text(directory / name, text)
    for stale in directory.glob("image-*.html"):
        if stale.name not in written:
            stale.unlink()
    return directory / INDEX
