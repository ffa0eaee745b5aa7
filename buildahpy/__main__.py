"""Command line: ``python -m buildahpy [options] FILE...``.

Exit codes: 0 every image built; 1 a build failed; 2 usage error, recipe that cannot load or a
host that cannot build; 128+N when stopped by signal N (130 Ctrl-C, 143 SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import attrs

from buildahpy import commands, interrupts, log
from buildahpy.api.recipe import Recipe, load_files
from buildahpy.build import locked
from buildahpy.build.dryrun import dry_dnf, dry_run
from buildahpy.errors import BuildahpyError, Interrupted, UsageError
from buildahpy.fleet import driver, graph, reproduce
from buildahpy.fleet.jobs import Settings
from buildahpy.host import binfmt, cache, dnf, preflight
from buildahpy.plan import arches, publish
from buildahpy.plan.distro import read_host_release
from buildahpy.plan.plan import Options, repos_of, target_of
from buildahpy.plan.repos import REPOS_MODES
from buildahpy.privilege import gc, rootless
from buildahpy.unwind import cleanup_failures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = commands.Parser(
        argv=sys.argv[1:] if argv is None else argv,
        prog="buildahpy",
        description="Build minimal container images from Python recipes. Other commands: "
        "buildahpy gc|sbom|lock|repos --help.",
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="recipe files")
    commands.add_common_args(parser)
    parser.add_argument(
        "--gc",
        action="store_true",
        help="the same as 'buildahpy gc': remove what killed builds left and the untagged "
        "images buildahpy built, then exit (takes no FILE)",
    )
    parser.add_argument(
        "--repo-file",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="use only the repositories in these .repo files (repeatable)",
    )
    parser.add_argument(
        "--distro", help="target family for every recipe (fedora, centos-stream, rhel ...)"
    )
    parser.add_argument("--releasever", help="target release for every recipe")
    parser.add_argument(
        "--arch",
        default="",
        metavar="ARCH[,ARCH...]",
        help="build every recipe for these architectures (x86_64, aarch64 ...): one image each, "
        "under the tag as a manifest list; foreign ones run through qemu-user (binfmt_misc)",
    )
    add_repo_args(parser)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="build only the recipe with this name (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the recipes found, build nothing")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print each plan and the commands a build runs, touch nothing",
    )
    parser.add_argument(
        "--dnf-flavour",
        choices=["auto", dnf.DNF4, dnf.DNF5],
        default=os.environ.get("BUILDAHPY_DNF_FLAVOUR") or "auto",
        help="which dnf to run: the host's dnf, dnf5 or dnf4 (default: $BUILDAHPY_DNF_FLAVOUR, "
        "else auto: the flavour of the host's 'dnf', else whichever is installed)",
    )
    add_fleet_args(parser)
    add_publish_args(parser)
    parser.add_argument(
        "--sbom", type=Path, metavar="DIR", help="write DIR/<recipe>.cdx.json and .spdx.json"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="after each build, say why each package is there and measure what "
        "weak deps and small alternatives saved (extra dnf resolutions)",
    )
    parser.add_argument(
        "--locked",
        action="store_true",
        help="install exactly the packages of each FILE.lock.json (see: buildahpy lock)",
    )
    args = parser.parse_args(argv)
    if args.dnf_flavour not in ("auto", dnf.DNF4, dnf.DNF5):
        parser.error(f"BUILDAHPY_DNF_FLAVOUR={args.dnf_flavour}: expected auto, dnf4 or dnf5")
    if args.gc and args.files:
        parser.error("--gc takes no recipe files")
    if not args.gc and not args.files:
        parser.error("the following arguments are required: FILE")
    return args


def add_repo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repos",
        choices=REPOS_MODES,
        default="auto",
        help="the host's repositories or the target's preset (default: the host's on a host "
        "of the target's family and release, else the preset)",
    )
    parser.add_argument(
        "--mirror", default="", metavar="URL", help="read the preset from this mirror"
    )
    parser.add_argument(
        "--gpg-key",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="sign-check the preset's packages with this key instead of the host's (repeatable)",
    )
    parser.add_argument(
        "--dnf-timeout",
        type=positive_seconds,
        default=0,
        metavar="SECONDS",
        help="give up on a download (and retry it) when a mirror sends less than 1 kB/s for "
        "SECONDS (dnf's timeout; default dnf's 30)",
    )


def positive_seconds(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of seconds, 1 or more")
    return int(text)


def add_publish_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        action="append",
        type=publish.check_output,
        default=[],
        metavar="DEST",
        help="after the run, write each image to oci:DIR[:REF], oci-archive:FILE or "
        "docker-archive:FILE ({recipe}: the recipe's name; repeatable)",
    )
    parser.add_argument(
        "--push",
        action="append",
        type=publish.check_push,
        default=[],
        metavar="REF",
        help="push each built image to this registry reference ({recipe} as above)",
    )
    parser.add_argument("--push-all", action="store_true", help="push the up-to-date images too")
    parser.add_argument(
        "--registry",
        type=publish.check_registry,
        metavar="PREFIX",
        help="the fleet's images are PREFIX/<recipe>:<tag>: up to date there counts, bases are "
        "pulled from there, built images are pushed there",
    )
    parser.add_argument(
        "--base-timeout",
        type=float,
        default=1800.0,
        metavar="SECONDS",
        help="with --shard and a registry: how long to wait for a base another shard builds",
    )
    parser.add_argument("--authfile", default="", metavar="FILE", help="registry credentials")
    parser.add_argument("--tls-verify", choices=["true", "false"], help="check the registry's TLS")
    parser.add_argument("--creds", default="", metavar="USER:PASSWORD", help="registry login")


def add_fleet_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, metavar="N", help="build N images at a time"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build even the images that are up to date"
    )
    parser.add_argument(
        "--check-reproducible",
        action="store_true",
        help="build each recipe twice (the second under a private name) and list what differs",
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="build only slice I (0-based) of N of the recipes, and the bases they need",
    )
    parser.add_argument(
        "--report", type=Path, metavar="FILE", help="write the run's results as JSON to FILE"
    )
    parser.add_argument(
        "--report-html",
        type=Path,
        metavar="DIR",
        help="write the fleet report as static HTML pages into DIR (DIR/index.html)",
    )
    parser.add_argument(
        "--history",
        type=Path,
        metavar="DIR",
        help="earlier --report files (DIR/*.json): size history, contents of unchanged images",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="the shared download cache (default $BUILDAHPY_CACHE_DIR or /var/cache/buildahpy)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="let each build's dnf fetch for itself"
    )


def select(recipes: list[Recipe], only: list[str]) -> list[Recipe]:
    names = {r.name for r in recipes}
    unknown = [name for name in only if name not in names]
    if unknown:
        raise UsageError(
            f"--only {', '.join(unknown)}: no such recipe (have: {', '.join(sorted(names))})"
        )
    return [r for r in recipes if not only or r.name in only]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Raise once; ignore repeats so the cleanup that follows can finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    interrupts.received(signum)
    raise Interrupted(signum)


def run(args: argparse.Namespace) -> int:
    if args.gc:
        return commands.gc_run(dry_run=args.dry_run)
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be 1 or more")
    check_report_dirs(args)
    loaded = load_files(args.files)
    wanted = select(loaded, args.only)
    shard = graph.parse_shard(args.shard) if args.shard else None
    # bases first; a cycle is a usage error
    nodes = graph.nodes_for(loaded, wanted, shard, shared=bool(args.registry or args.push))
    recipes = [node.recipe for node in nodes]
    roles = {node.name: node.role for node in nodes}
    for path in args.repo_file:
        if not path.is_file():
            raise UsageError(f"--repo-file {path}: no such file")
    options = Options(
        repo_files=tuple(p.resolve() for p in args.repo_file),
        repos=args.repos,
        mirror=args.mirror,
        gpg_keys=tuple(p.resolve() for p in args.gpg_key),
        distro=args.distro,
        releasever=args.releasever,
        explain=args.explain,
        sbom_dir=args.sbom.resolve() if args.sbom else None,
        locked=args.locked,
        arches=arches.parse(args.arch) if args.arch else (),
        dnf_timeout=args.dnf_timeout,
    )
    if args.list:
        for entry in recipes:
            sys.stdout.write(f"{entry.name}\t{entry.tag}\t{entry.location}\t{roles[entry.name]}\n")
        return 0
    host = read_host_release()
    if args.dry_run:
        command, flavour = dry_dnf(args.dnf_flavour)
        options = attrs.evolve(options, dnf_command=command)
        for entry in recipes:
            dry_run(entry, options, host, flavour, cache=not args.no_cache)
        return 0
    publish.check_templates(
        publish.Publish(outputs=tuple(args.output), push=tuple(args.push)),
        [entry.name for entry in recipes],
    )
    for entry in recipes:  # a release nobody gives, a key not found: usage errors, up front
        target_of(entry, options, host)
        repos_of(entry, options, host)
    preflight.check_host()
    wanted_arches = [arches.build_arches(options.arches, r.arches) for r in recipes]
    arches.check_supported(wanted_arches, reproduce=args.check_reproducible)
    for entry, chosen in zip(recipes, wanted_arches, strict=True):
        if args.locked:  # each architecture built has its section in the lock
            locked.check_arches(entry, chosen)
    binfmt.check_foreign({arch for each in wanted_arches for arch in each})
    command, flavour = dnf.find_dnf(args.dnf_flavour)
    options = attrs.evolve(options, dnf_command=command)
    gc.collect_before_build(cache.cache_root(args.cache_dir))
    settings = Settings(
        jobs=args.jobs,
        rebuild=args.rebuild,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        verbose=args.verbose,
        base_timeout=args.base_timeout,
    )
    if args.check_reproducible:
        return reproduce.check(nodes, options, host, flavour, settings, args.report)
    send = publish.Publish(
        outputs=tuple(args.output),
        push=tuple(args.push),
        push_all=args.push_all,
        authfile=args.authfile,
        tls_verify=None if args.tls_verify is None else args.tls_verify == "true",
        creds=args.creds,
        registry=args.registry or "",
    )
    return driver.run(
        nodes,
        options,
        host,
        flavour,
        settings,
        args.report,
        send,
        shard,
        html_dir=args.report_html,
        history_dir=args.history,
    )


def check_report_dirs(args: argparse.Namespace) -> None:
    if args.report_html is not None and args.check_reproducible:
        raise UsageError("--report-html does not go with --check-reproducible")
    if args.report_html is not None and args.report_html.exists() and not args.report_html.is_dir():
        raise UsageError(f"--report-html {args.report_html}: not a directory")
    if args.history is not None and not args.history.is_dir():
        raise UsageError(f"--history {args.history}: no such directory")


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["sbom"]:
        return commands.sbom_main(given[1:])
    if given[:1] == ["lock"]:
        return commands.lock_main(given[1:])
    if given[:1] == ["repos"]:
        return commands.repos_main(given[1:])
    if given[:1] == ["diff"]:
        return commands.diff_main(given[1:])
    if given[:1] == ["why"]:
        return commands.why_main(given[1:])
    if given[:1] == ["report"]:
        return commands.report_main(given[1:])
    if given[:1] == ["gc"]:
        return commands.gc_main(given[1:])
    args = parse_args(argv)
    log.configure(verbose=args.verbose, quiet=args.quiet, fmt=args.log_format)
    if rootless.needs_namespace(args.list or args.dry_run):
        return rootless.run_in_namespace(sys.argv[1:] if argv is None else list(argv))
    rootless.announce()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        return run(args)
    except BuildahpyError as exc:
        if exc.__cause__ is not None:  # a recipe's own exception: its traceback, with -v
            log.get_logger().debug("recipe raised", exc_info=exc.__cause__)
        log.error_line(str(exc))
        return exc.exit_code
    except Interrupted as exc:
        warnings = cleanup_failures(exc)
        done = "" if warnings else "; the working container was removed"
        log.error_line(f"{exc}{done}")
        for warning in warnings:
            log.get_logger().warning("cleanup failed", cause=warning)
        return exc.exit_code
    except Exception as exc:  # a bug or an error nobody foresaw, outside any one build
        log.get_logger().debug("unexpected error", exc_info=exc)  # the traceback, with -v
        log.error_line(f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
