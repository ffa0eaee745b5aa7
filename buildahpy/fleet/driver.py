"""One run over the selected recipes: look at the local images, schedule, then report.

Host binaries: podman (the local image index, through buildah.py), and whatever the builds start.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from buildahpy import log
from buildahpy.fleet import publish, summary
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
) -> int:
    started = time.monotonic()
    references = [node.recipe.tag for node in nodes]
    references += sorted({node.base_image for node in nodes if node.base_image})
    existing = index_images(buildah.inspect_images(references))
    preparer = Preparer(options, host, flavour, settings, existing)
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
        entries = schedule(nodes, preparer, executor, progress)
    sent = publish.publish(entries, send)
    wall = time.monotonic() - started
    built = [entry.node.recipe.tag for entry in entries if entry.status == BUILT]
    # a built image's digest only matters to the report; the table has what the build measured
    images = {**existing, **(index_images(buildah.inspect_images(built)) if report_path else {})}
    table = summary.rows(entries, images)
    summary.print_table(table, wall, sys.stdout)
    shares = summary.fleet_shares(table, images)
    if len(shares) > 1:
        summary.print_fleet(shares, table, sys.stdout)
    publish.print_sent(sent, sys.stdout)
    data = summary.report(table, shares, wall)
    log.get_logger().info("summary", **summary.brief(data), _json=True)  # JSON's last line
    if report_path is not None:
        publish.annotate(data, sent)
        summary.write_report(report_path, data)
    built_ok = all(entry.status in (BUILT, UP_TO_DATE) for entry in entries)
    return 0 if built_ok and not any(item.error for item in sent) else 1
