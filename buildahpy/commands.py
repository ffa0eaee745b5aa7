"""The commands beside the build: ``buildahpy gc``, ``buildahpy sbom IMAGE``, ``buildahpy lock
FILE...``, ``buildahpy repos DISTRO RELEASE``, ``buildahpy diff A B``, ``buildahpy why IMAGE
PACKAGE`` and ``buildahpy report merge REPORT...``, each with its own options (``python -m
buildahpy FILE...`` keeps meaning "build", see __main__.py), and what every command line shares.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, NoReturn

from buildahpy import __version__, log
from buildahpy.build import diff, sbom_image
from buildahpy.errors import BuildahpyError
from buildahpy.fleet import lock as fleet_lock
from buildahpy.fleet import merge, summary
from buildahpy.host import cache, dnf
from buildahpy.plan import arches
from buildahpy.plan.distro import Target, normalise_family, read_host_release
from buildahpy.plan.plan import Options
from buildahpy.plan.repos import preset_file
from buildahpy.privilege import gc, images, rootless


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a JSON line when ``--log-format json`` is in ``argv``."""

    def __init__(self, *args: Any, argv: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given = list(argv)
        pairs = pairwise(given)
        self.json_errors = "--log-format=json" in given or ("--log-format", "json") in pairs

    def error(self, message: str) -> NoReturn:
        if not self.json_errors:
            super().error(message)
        log.configure(fmt="json")
        log.error_line(f"{self.prog}: {message} (see {self.prog} --help)")
        sys.exit(2)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """-v, -q, --log-format and --version: the same on every command."""
    loud = parser.add_mutually_exclusive_group()
    loud.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also every step's start and end, each command as it runs and the tools' own "
        "output (dnf's), and a failed recipe's traceback",
    )
    loud.add_argument(
        "-q", "--quiet", action="store_true", help="print only the results, warnings and errors"
    )
    parser.add_argument(
        "--log-format",
        choices=log.FORMATS,
        default="console",
        help="stderr as short lines (console, the default) or one JSON object per line (json)",
    )
    try:
        version = importlib.metadata.version("buildahpy")
    except importlib.metadata.PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        version = __version__
    parser.add_argument(
        "--version", action="version", version=f"buildahpy {version}", help="print the version"
    )


def gc_main(argv: Sequence[str]) -> int:
    """``buildahpy gc [--dry-run]``: what killed builds left, and the untagged images of ours."""
    parser = Parser(
        prog="buildahpy gc",
        argv=argv,
        description="Remove the working containers and pending images of killed builds, and "
        "the images buildahpy built that no tag and no running build uses any more. Images "
        "buildahpy did not build are never touched.",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be removed, remove nothing"
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    log.configure(verbose=args.verbose, quiet=args.quiet, fmt=args.log_format)
    if rootless.needs_namespace(False):
        return rootless.run_in_namespace(["gc", *argv])
    try:
        return gc_run(dry_run=args.dry_run)
    except BuildahpyError as exc:
        log.error_line(str(exc))
        return exc.exit_code


def gc_run(*, dry_run: bool = False) -> int:
    """Leftovers first (a pending image may be what an untagged one's removal waits on), then
    the untagged images; prints what it removed (or would), then one summary line."""
    leftovers = gc.collect(dry_run=dry_run)
    caches = [] if dry_run else gc.collect_build_caches(cache.cache_root(None))
    staged = [] if dry_run else cache.collect_staging(cache.cache_root(None))
    unused = images.collect_images(dry_run=dry_run)
    lines = [
        *gc.report(leftovers, dry_run=dry_run),
        *(f"removed the dnf cache of {name}" for name in caches),
        *(f"removed the metadata snapshot being made {name}" for name in staged),
        *images.report(unused, dry_run=dry_run),
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def sbom_main(argv: Sequence[str]) -> int:
    """``buildahpy sbom IMAGE [--format cyclonedx|spdx] [-o FILE]``."""
    parser = Parser(prog="buildahpy sbom", argv=argv, description="An image's SBOM.")
    parser.add_argument("image", help="a local image buildahpy built (name or id)")
    parser.add_argument(
        "--format",
        choices=sbom_image.FORMATS,
        default="cyclonedx",
        help="CycloneDX 1.6 (default) or SPDX 2.3 JSON",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout"
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    log.configure(verbose=args.verbose, quiet=args.quiet, fmt=args.log_format)
    if rootless.needs_namespace(False):
        return rootless.run_in_namespace(["sbom", *argv])
    rootless.announce()  # inside: tell the waiting parent who to forward signals to
    try:
        document = sbom_image.image_sbom(args.image, args.format)
    except BuildahpyError as exc:
        log.error_line(str(exc))
        return exc.exit_code
    if args.output:
        args.output.write_text(document)
    else:
        sys.stdout.write(document)
    return 0


def lock_main(argv: Sequence[str]) -> int:
    """``buildahpy lock FILE... [--repo-file PATH] [--distro D] [--releasever N] [--arch A,B]``."""
    parser = Parser(
        prog="buildahpy lock",
        argv=argv,
        description="Resolve each recipe and write FILE.lock.json.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="recipe files")
    parser.add_argument(
        "--repo-file",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="resolve against only the repositories in these .repo files (repeatable)",
    )
    parser.add_argument("--distro", help="target family for every recipe")
    parser.add_argument("--releasever", help="target release for every recipe")
    parser.add_argument(
        "--arch",
        metavar="ARCH,...",
        help="lock every recipe for these architectures (default: each recipe's arches=, else"
        " the host's); each gets its own section of the lock",
    )
    parser.add_argument(
        "--dnf-flavour",
        choices=["auto", dnf.DNF4, dnf.DNF5],
        default="auto",
        help="which dnf resolves (default auto: the host's dnf)",
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    log.configure(verbose=args.verbose, quiet=args.quiet, fmt=args.log_format)
    if rootless.needs_namespace(False):
        return rootless.run_in_namespace(["lock", *argv])
    rootless.announce()  # inside: tell the waiting parent who to forward signals to
    try:
        options = Options(
            repo_files=tuple(p.resolve() for p in args.repo_file),
            distro=args.distro,
            releasever=args.releasever,
            arches=arches.parse(args.arch) if args.arch else (),
        )
        flavour = dnf.host_flavour() if args.dnf_flavour == "auto" else args.dnf_flavour
        fleet_lock.lock_files(args.files, options, read_host_release(), flavour)
    except BuildahpyError as exc:
        log.error_line(str(exc))
        return exc.exit_code
    return 0


def repos_main(argv: Sequence[str]) -> int:
    """``buildahpy repos DISTRO RELEASE [--mirror URL] [--gpg-key FILE]``: the preset's .repo."""
    parser = Parser(
        prog="buildahpy repos",
        argv=argv,
        description="Print a distribution's preset as a .repo file.",
    )
    parser.add_argument("distro", help="the family: fedora, centos-stream, ubi, almalinux, rocky")
    parser.add_argument("releasever", help="the release (41, 10, rawhide ...)")
    parser.add_argument(
        "--mirror", default="", metavar="URL", help="a mirror with the distribution's layout"
    )
    parser.add_argument(
        "--gpg-key",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="these keys instead of the host's (repeatable)",
    )
    add_common_args(parser)
    args = parser.parse_args(argv)
    log.configure(verbose=args.verbose, quiet=args.quiet, fmt=args.log_format)
    try:
        target = Target(normalise_family(args.distro), args.releasever)
        sys.stdout.write(preset_file(target, args.mirror, args.gpg_key).text)
    except BuildahpyError as exc:
        log.error_line(str(exc))
        return exc.exit_code
    return 0


def diff_main(argv: Sequence[str]) -> int:
    """``buildahpy diff A B [--files] [--format text|json]``."""
    parser = argparse.ArgumentParser(
        prog="buildahpy diff",
        description="What changed from image A to image B (tags or ids, any image with an "
        "rpmdb): packages and their sizes, config, labels; with --files, files. "
        "Exit 0 when the images could be compared, whether or not they differ; 1 (or 2 for "
        "usage) when they could not.",
    )
    parser.add_argument("old", metavar="A")
    parser.add_argument("new", metavar="B")
    parser.add_argument(
        "--files",
        action="store_true",
        help="also the files that differ (content by sha256, mode, owner, xattrs; not mtime)",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    log.configure(verbose=args.verbose)
    if rootless.needs_namespace(False):
        return rootless.run_in_namespace(["diff", *argv])
    rootless.announce()  # inside: tell the waiting parent who to forward signals to
    try:
        found = diff.diff_images(args.old, args.new, files=args.files)
    except BuildahpyError as exc:
        sys.stderr.write(f"buildahpy: {exc}\n")
        return exc.exit_code
    if args.format == "json":
        sys.stdout.write(json.dumps(found.as_json(), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write("\n".join(diff.lines(found)) + "\n")
    return 0


def why_main(argv: Sequence[str]) -> int:
    """``buildahpy why IMAGE PACKAGE``."""
    parser = argparse.ArgumentParser(
        prog="buildahpy why",
        description="The dependency chain that put PACKAGE into IMAGE, from the image's rpmdb.",
    )
    parser.add_argument("image")
    parser.add_argument("package")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    log.configure(verbose=args.verbose)
    if rootless.needs_namespace(False):
        return rootless.run_in_namespace(["why", *argv])
    rootless.announce()  # inside: tell the waiting parent who to forward signals to
    try:
        sys.stdout.write("\n".join(diff.why_lines(args.image, args.package)) + "\n")
    except BuildahpyError as exc:
        sys.stderr.write(f"buildahpy: {exc}\n")
        return exc.exit_code
    return 0


def report_main(argv: Sequence[str]) -> int:
    """``buildahpy report merge REPORT... [-o FILE]``: the shards' --report files as one."""
    parser = argparse.ArgumentParser(
        prog="buildahpy report", description="Join the JSON reports of a fleet's shards."
    )
    parser.add_argument("action", choices=["merge"])
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT")
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write it as JSON")
    args = parser.parse_args(argv)
    try:
        data = merge.merge(merge.load(args.reports))
    except BuildahpyError as exc:
        sys.stderr.write(f"buildahpy: {exc}\n")
        return exc.exit_code
    merge.print_merged(data, sys.stdout)
    if args.output:
        summary.write_report(args.output, data)
    failed = data["totals"]["failed"] or data["totals"]["skipped"]
    return 1 if failed else 0
