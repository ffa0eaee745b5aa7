"""One run over the selected recipes: look at the local images (and, for a fleet in a registry,
at the registry's, remote.py), schedule, then report.

Host binaries: podman (the local image index, through buildah.py), skopeo and buildah (through
remote.py), and whatever the builds start.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from buildahpy import log
from buildahpy.fleet import history, publish, remote, report_html, summary
from buildahpy.fleet.fleet import (
    BUILT,
    UP_TO_DATE,
    Executor,
    ForkExecutor,
    InlineExecutor,
    schedule,
)
from buildahpy.fleet.graph import Node
from buildahpy.fleet.jobs import Preparer, Settings, index_images
from buildahpy.fleet.progress import LiveProgress, LogProgress
from buildahpy.fleet.tagwait import TagWaits
from buildahpy.host import buildah
from buildahpy.plan.distro import HostRelease
from buildahpy.plan.plan import Options
from buildahpy.plan.publish import NOTHING, Publish


def run(
    nodes: Sequence[Node],
    options: Options,
    host: HostRelease,
    flavour: str,
    settings: Settings,
    report_path: Path | None = None,
    send: Publish = NOTHING,
    shard: tuple[int, int] | None = None,
    html_dir: Path | None = None,
    history_dir: Path | None = None,
) -> int:
    started = time.monotonic()
    references = [node.recipe.tag for node in nodes]
    references += sorted({node.base_image for node in nodes if node.base_image})
    existing = index_images(buildah.inspect_images(references))
    home = None
    if send.registry or send.push:  # the fleet's images live in a registry
        home = remote.Remote(send, shard, settings.base_timeout)
    preparer = Preparer(options, host, flavour, settings, existing, home)
    live = settings.jobs > 1 and sys.stderr.isatty() and log.log_format() == "console"
    progress = LiveProgress(sys.stderr, len(nodes)) if live else LogProgress()
    with ExitStack() as stack:
        executor: Executor = InlineExecutor(node.recipe for node in nodes)
        if settings.jobs > 1:  # logs and outcomes of the forked builds
            rundir = stack.enter_context(tempfile.TemporaryDirectory(prefix="buildahpy-run-"))
            recipes = [node.recipe for node in nodes]
            executor = ForkExecutor(
                settings.jobs, Path(rundir), recipes, tick=progress.tick, relay=progress.relay
            )
        stack.callback(progress.close)
        reporter = home.reporter(progress) if home else progress
        entries = schedule(nodes, preparer, executor, reporter, TagWaits(preparer.refresh))
    sent = [*(home.sent if home else []), *publish.publish(entries, send, home_done=bool(home))]
    wall = time.monotonic() - started
    built = [entry.node.recipe.tag for entry in entries if entry.status == BUILT]
    pulled = [entry.node.recipe.tag for entry in entries if home and entry.name in home.pulled]
    # a built image's digest only matters to the report; the table has what the build measured
    images = {**preparer.existing, **(home.images() if home else {})}
    wanted = [*built, *pulled] if report_path or html_dir else pulled
    images.update(index_images(buildah.inspect_images(wanted)))
    table = summary.rows(entries, images)
    summary.print_table(table, wall, sys.stdout)
    shares = summary.fleet_shares(table, images)
    if len(shares) > 1:
        summary.print_fleet(shares, table, sys.stdout)
    publish.print_sent(sent, sys.stdout)
    data = summary.report(table, shares, wall)
    log.get_logger().info("summary", **summary.brief(data), _json=True)  # JSON's last line
    if report_path is not None or html_dir is not None:
        publish.annotate(data, sent)
        remote.annotate(data, entries, home)
        write_reports(data, report_path, html_dir, history_dir)
    built_ok = all(entry.status in (BUILT, UP_TO_DATE) for entry in entries)
    return 0 if built_ok and not any(item.error for item in sent) else 1


def write_reports(
    data: dict[str, Any], report_path: Path | None, html_dir: Path | None, history_dir: Path | None
) -> None:
    """The JSON report and the HTML pages of one run. The images not rebuilt get their contents
    from the earlier reports (history.py): those of ``history_dir`` and the report file this
    one replaces."""
    history.stamp(data)
    earlier = history.load(history_dir, report_path)
    history.carry_contents(data, earlier)
    if report_path is not None:
        summary.write_report(report_path, data)
    if html_dir is not None:
        index = report_html.write(html_dir, report_html.pages(data, earlier))
        sys.stdout.write(f"fleet report: {index.resolve()}\n")
