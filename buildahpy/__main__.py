"""Command line: ``python -m buildahpy [options] FILE...``.

Exit codes: 0 every image built; 1 a build failed; 2 usage error, recipe that cannot load or a
host that cannot build; 128+N when stopped by signal N (130 Ctrl-C, 143 SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from . import dnf, log, preflight
from .build import BuildResult, build
from .distro import HostRelease, read_host_release, resolve_target
from .errors import BuildahpyError, Interrupted, RecipeError, UsageError
from .image import DryEngine, Image
from .plan import Options, make_plan
from .recipe import Recipe, load_files, where_in
from .report import print_plan, print_results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="buildahpy", description="Build minimal container images from Python recipes."
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="recipe files")
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
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="build only the recipe with this name (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the recipes found, build nothing")
    parser.add_argument("--dry-run", action="store_true", help="print each plan, touch nothing")
    parser.add_argument(
        "--dnf-flavour",
        choices=["auto", dnf.DNF4, dnf.DNF5],
        default="auto",
        help="which dnf the host has (default: ask 'dnf --version')",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show each command as it runs")
    parser.add_argument("--log-format", choices=["console", "json"], default="console")
    return parser.parse_args(argv)


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
    raise Interrupted(signum)


def run(args: argparse.Namespace) -> int:
    recipes = select(load_files(args.files), args.only)
    for path in args.repo_file:
        if not path.is_file():
            raise UsageError(f"--repo-file {path}: no such file")
    options = Options(
        repo_files=tuple(p.resolve() for p in args.repo_file),
        distro=args.distro,
        releasever=args.releasever,
    )
    if args.list:
        for entry in recipes:
            sys.stdout.write(f"{entry.name}\t{entry.tag}\t{entry.location}\n")
        return 0
    host = read_host_release()
    if args.dry_run:
        flavour = dnf.DNF4 if args.dnf_flavour == "auto" else args.dnf_flavour
        for entry in recipes:
            dry_run(entry, options, host, flavour)
        return 0
    for entry in recipes:  # a release nobody gives is a usage error before anything is created
        resolve_target(
            cli_distro=options.distro,
            cli_releasever=options.releasever,
            recipe_distro=entry.distro,
            recipe_releasever=entry.releasever,
            host=host,
        )
    preflight.check_host()
    flavour = dnf.host_flavour() if args.dnf_flavour == "auto" else args.dnf_flavour
    results: list[BuildResult] = []
    failed = 0
    for entry in recipes:
        try:
            results.append(build(entry, options, host=host, flavour=flavour))
        except BuildahpyError as exc:
            failed += 1
            sys.stderr.write(f"buildahpy: {entry.name}: {exc}\n")
    print_results(results, sys.stdout)
    return 1 if failed else 0


def dry_run(entry: Recipe, options: Options, host: HostRelease, flavour: str) -> None:
    plan = make_plan(entry, options, host=host, dnf_flavour=flavour, workdir="<workdir>")
    image = Image(DryEngine())
    try:
        entry.func(image)
    except BuildahpyError as exc:
        raise RecipeError(f"{where_in(exc, entry.file)}: {exc}") from None
    except Exception as exc:
        raise RecipeError(f"{where_in(exc, entry.file)}: {type(exc).__name__}: {exc}") from None
    print_plan(plan, image, sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log.configure(verbose=args.verbose, fmt=args.log_format)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        return run(args)
    except BuildahpyError as exc:
        sys.stderr.write(f"buildahpy: {exc}\n")
        return exc.exit_code
    except Interrupted as exc:
        sys.stderr.write(f"buildahpy: {exc}; the working container was removed\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
