"""One image's page of the HTML report: its facts, its size over the runs, and each of its
packages with the bytes, the chain that brought it in and the other images that have it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from buildahpy.build.sizes import human_size
from buildahpy.fleet import history
from buildahpy.fleet.report_cells import Fleet, link, num, size_cell
from buildahpy.fleet.report_svg import size_chart
from buildahpy.plan.contents import FROM_BASE


def base_of(image: Mapping[str, Any], fleet: Fleet) -> Mapping[str, Any] | None:
    """The run's image that ``image`` is built on, if the run has it."""
    base = image.get("base")
    return next((other for other in fleet.images if base and other.get("tag") == base), None)


def base_cell(image: Mapping[str, Any], fleet: Fleet) -> str:
    """The base's recipe as a link when the run has it, else its reference; '-' for scratch."""
    base, found = image.get("base"), base_of(image, fleet)
    if not base:
        return '<span class="muted">-</span>'
    return link(str(found.get("recipe"))) if found else f"<code>{escape(str(base))}</code>"


def base_chains(image: Mapping[str, Any], fleet: Fleet) -> tuple[str, dict[str, Any]]:
    """The base's recipe and, by package, why the base has it: a dependent's chain for a
    package of its base goes on in the base."""
    found = base_of(image, fleet)
    if found is None:
        return "", {}
    contents = history.valid_contents(found.get("contents")) or []
    return str(found.get("recipe")), {item["nevra"]: item["why"] for item in contents}


def why_cell(steps: Sequence[Sequence[str]]) -> str:
    """'nginx (requested) -> openssl-libs via libssl.so.3()(64bit)', root first."""
    if not steps:
        return '<span class="muted">-</span>'
    root, reason = steps[0]
    parts = [f'<code>{escape(root)}</code> <span class="reason">({escape(reason)})</span>']
    parts += [
        f'&rarr; <code>{escape(name)}</code> <span class="via">via <code>{escape(via)}</code>'
        "</span>"
        for name, via in steps[1:]
    ]
    return f'<span class="chain">{" ".join(parts)}</span>'


def facts(image: Mapping[str, Any], fleet: Fleet) -> str:
    size, own = image.get("size"), image.get("own_bytes")
    rows = [
        ("Tag", f"<code>{escape(str(image.get('tag')))}</code>"),
        ("Status", escape(str(image.get("status")))),
        ("Role", escape(str(image.get("role")))),
        ("Base", base_cell(image, fleet)),
        ("Size", f"{escape(human_size(size))} ({size} bytes)" if isinstance(size, int) else "-"),
        ("Packages", str(len(image.get("packages") or [])) if size is not None else "-"),
        ("Own layers", escape(human_size(own)) if isinstance(own, int) else "-"),
        ("Image ID", f"<code>{escape(str(image.get('image_id') or '-'))}</code>"),
        ("Digest", f"<code>{escape(str(image.get('digest') or '-'))}</code>"),
        ("Inputs", f"<code>{escape(str(image.get('inputs') or '-'))}</code>"),
    ]
    if image.get("error"):
        rows.append(("Error", f'<span class="status-failed">{escape(str(image["error"]))}</span>'))
    cells = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f'<dl class="facts" id="facts">{cells}</dl>'


def package_rows(image: Mapping[str, Any], fleet: Fleet) -> tuple[list[str], str]:
    """The table's rows, largest first, and a note on where the data came from."""
    recipe = str(image.get("recipe"))
    contents = history.valid_contents(image.get("contents"))
    source = str(image.get("contents_from") or "")
    if contents is None:
        items: list[dict[str, Any]] = [
            {"nevra": str(n), "size": None, "why": []} for n in image.get("packages") or []
        ]
        note = (
            "Sizes and chains were not recorded for this image: it is up to date and no earlier "
            "report given (--history, --report) has its id; the names are its packages label."
        )
    else:
        items = sorted(contents, key=lambda item: (-item["size"], item["nevra"]))
        note = "" if source == history.FROM_BUILD else f"Carried from {source}: the same image."
    base, in_base = base_chains(image, fleet)
    rows = []
    for item in items:
        nevra = item["nevra"]
        others = [name for name in fleet.holders.get(nevra, ()) if name != recipe]
        steps, badge, why = item["why"], "", why_cell(item["why"])
        if steps and steps[0][1] == FROM_BASE:
            badge = ' <span class="badge">base</span>'
            if nevra in in_base:
                why = f"in {link(base)}: {why_cell(in_base[nevra])}"
        rows.append(
            f'<tr data-nevra="{escape(nevra)}"><td><code>{escape(nevra)}</code>{badge}</td>'
            + size_cell(item["size"])
            + f"<td>{why}</td>"
            + num(len(others))
            + f"<td>{', '.join(link(name) for name in others) or '-'}</td></tr>"
        )
    return rows, note


def image_body(image: Mapping[str, Any], fleet: Fleet) -> tuple[str, str]:
    """The page's body and its header line."""
    recipe = str(image.get("recipe"))
    points = fleet.series.get(recipe, [])
    chart = ""
    if fleet.has_history and points:
        chart = f'<h2 id="history">Size history</h2><figure>{size_chart(points, recipe)}</figure>'
    rows, note = package_rows(image, fleet)
    table = (
        '<table id="packages"><tr><th>Package</th><th class="num">Size</th><th>Why</th>'
        f'<th class="num">Shared</th><th>Also in</th></tr>{"".join(rows)}</table>'
    )
    body = (
        facts(image, fleet)
        + chart
        + f'<h2 id="contents">Packages ({len(rows)})</h2>'
        + (f'<p class="note">{escape(note)}</p>' if note else "")
        + table
    )
    meta = f"<code>{escape(str(image.get('tag')))}</code>, {escape(str(image.get('status')))}"
    return body, meta
