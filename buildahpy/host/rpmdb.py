"""Reading the image's rpmdb with the host's rpm, and pruning packages from it.

Host binaries: rpm. Query formats and parsers are pure; ``query``/``erase``/``satisfying`` run
rpm with the build's private environment so the user's macros never apply.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from buildahpy.errors import CommandError
from buildahpy.host.tools import run
from buildahpy.plan import specs
from buildahpy.plan.packages import Header, Package

_SEP = "\x1f"


def root_argv(root: str, dbpath: str) -> list[str]:
    return ["rpm", f"--root={root}", f"--dbpath={dbpath}"]


# What the SBOM records of each package and its BUILDTIME (the image's time), read in the same
# query (one rpm call per build).
HEADER_TAGS = tuple(
    f"%{{{tag}}}"
    for tag in (
        "EPOCHNUM",
        "VERSION",
        "RELEASE",
        "ARCH",
        "LICENSE",
        "VENDOR",
        "PACKAGER",
        "SOURCERPM",
        "SHA256HEADER",
        "SIGMD5",
        "BUILDTIME",
    )
)


QUERY_FORMAT = (
    _SEP.join(
        [
            "@@%{NAME}",
            "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}",
            "%{LONGSIZE}",
            *HEADER_TAGS,
            "[R%{REQUIRENAME}\t%{REQUIREFLAGS}" + _SEP + "]",
            "[W%{RECOMMENDNAME}" + _SEP + "]",
            "[P%{PROVIDENAME}" + _SEP + "]",
            # LONGFILESIZES (rpm >= 4.6): v6 packages (rpm 6) carry no FILESIZES at all
            "[F%{FILENAMES}\t%{LONGFILESIZES}\t%{FILEFLAGS}\t%{FILESTATES:fstate}\t%{FILELANGS}"
            "\t%{FILEMTIMES}\t%{FILEMODES}" + _SEP + "]",
        ]
    )
    + "\n"
)


def parse_query(text: str) -> dict[str, Package]:
    packages: dict[str, Package] = {}
    for record in text.split("@@")[1:]:
        name, nevra, size, *rest = record.rstrip("\n").split(_SEP)
        header = [_value(item) for item in rest[: len(HEADER_TAGS)]]
        rest = rest[len(HEADER_TAGS) :]
        fields: dict[str, list[str]] = {"R": [], "W": [], "P": [], "F": []}
        for item in rest:
            if item[:1] in fields:
                fields[item[0]].append(item[1:])
        requires = tuple((r.split("\t")[0], int(r.split("\t")[1])) for r in fields["R"])
        files = tuple(_file(f) for f in fields["F"])
        packages[name] = Package(
            name,
            nevra,
            int(size or 0),
            requires,
            tuple(fields["W"]),
            tuple(fields["P"]),
            files,
            _header(header),
        )
    return packages


def _header(values: list[str]) -> Header:
    epoch, version, release, arch, license_, vendor, packager, source, sha256, md5, built = values
    return Header(
        int(epoch or 0),
        version,
        release,
        arch,
        license_,
        vendor,
        packager,
        source,
        sha256,
        md5,
        int(built or 0),
    )


def _value(item: str) -> str:
    return "" if item == "(none)" else item


def _file(item: str) -> tuple[str, int, int, str, str, int]:
    path, size, flags, state, lang, mtime, mode = (item.split("\t") + [""] * 7)[:7]
    # only regular files can be compared by size and mtime; others get mtime -1
    regular = (int(mode or 0) & 0o170000) == 0o100000
    return path, int(size or 0), int(flags or 0), state, lang, int(mtime or 0) if regular else -1


def query(root: str, dbpath: str, env: Mapping[str, str]) -> dict[str, Package]:
    out = run(
        [*root_argv(root, dbpath), "-qa", "--qf", QUERY_FORMAT],
        env=env,
        hint="cannot read the image's rpmdb",
    ).stdout
    return parse_query(out)


def names(root: str, dbpath: str, env: Mapping[str, str]) -> list[str]:
    """The installed packages' names: the cheap query (no file lists)."""
    out = run(
        [*root_argv(root, dbpath), "-qa", "--qf", "%{NAME}\n"],
        env=env,
        hint="cannot read the image's rpmdb",
    ).stdout
    return out.split()


def erase(root: str, dbpath: str, names: Sequence[str], env: Mapping[str, str]) -> None:
    # --nodeps: only scriptlet requirements point at these; --noscripts: their removal
    # scriptlets would need the very tools being removed.
    run(
        [*root_argv(root, dbpath), "-e", "--nodeps", "--noscripts", "--notriggers", *names],
        env=env,
        hint="cannot prune install-time-only packages",
    )


# What rpm says when a query finds nothing (exit 1): on stdout "package X is not installed" or
# "no package provides X"; for a path nobody owns also this on stderr.
_NO_SUCH_FILE = re.compile(r"^error: file .*: No such file or directory$")
_HIT = "@@"
_LISTING_FORMAT = (
    _HIT
    + _SEP.join(["%{NAME}", "%{EPOCHNUM}", "%{VERSION}", "%{RELEASE}", "%{ARCH}"])
    + "[\tP%{PROVIDENAME}][\tF%{FILENAMES}]\n"
)
_PROVIDES_FORMAT = _HIT + "%{NAME}[\t%{PROVIDENAME}" + _SEP + "%{PROVIDEFLAGS}" + _SEP
_PROVIDES_FORMAT += "%{PROVIDEVERSION}]\n"


def query_argv(root: str, dbpath: str, spec: str, *, whatprovides: bool, qf: str) -> list[str]:
    """``rpm -q`` for one spec; ``--`` keeps it from ever being read as an option."""
    what = ["--whatprovides"] if whatprovides else []
    return [*root_argv(root, dbpath), "-q", *what, "--qf", qf, "--", spec]


def _ask(argv: list[str], env: Mapping[str, str]) -> list[str]:
    try:
        out = run(argv, env=env, hint="cannot read the image's rpmdb").stdout
    except CommandError as error:
        problems = [
            line
            for line in error.stderr.splitlines()
            if line.strip() and not _NO_SUCH_FILE.match(line.strip())
        ]
        if error.returncode != 1 or problems:
            raise
        out = error.stdout
    return [line[len(_HIT) :] for line in out.splitlines() if line.startswith(_HIT)]


def _listing(root: str, dbpath: str, env: Mapping[str, str]) -> list[specs.Installed]:
    argv = [*root_argv(root, dbpath), "-qa", "--qf", _LISTING_FORMAT]
    installed = []
    for line in _ask(argv, env):
        head, *items = line.split("\t")
        name, epoch, version, release, arch = head.split(_SEP)
        provides = tuple(item[1:] for item in items if item[:1] == "P")
        files = tuple(item[1:] for item in items if item[:1] == "F")
        installed.append(specs.Installed(name, epoch, version, release, arch, provides, files))
    return installed


def _meeting(root: str, dbpath: str, wanted: specs.Versioned, env: Mapping[str, str]) -> list[str]:
    argv = query_argv(root, dbpath, wanted.name, whatprovides=True, qf=_PROVIDES_FORMAT)
    names = []
    for line in _ask(argv, env):
        name, *items = line.split("\t")
        provides = [(n, int(f or 0), evr) for n, f, evr in (i.split(_SEP) for i in items)]
        if specs.meets(provides, wanted):
            names.append(name)
    return names


def known_name(spec: str, installed: Collection[str]) -> bool:
    """A spec that is an installed package's whole name: ``rpm -q`` would answer that name
    (it matches a label as a name before it splits it into name-version-release; a '.' could
    be read as an arch, so such a spec is still asked; a glob or a path is never a name)."""
    plain = "." not in spec and not spec.startswith("/") and not specs.is_glob(spec)
    return plain and spec in installed


def satisfying(
    root: str,
    dbpath: str,
    wanted: Sequence[str],
    env: Mapping[str, str],
    installed: Collection[str] = (),
) -> dict[str, list[str]]:
    """For each spec, the names of the installed packages that satisfy it, as rpm reads the
    image's rpmdb: ``rpm -q`` (name, name-version-release, name.arch ...), else ``rpm -q
    --whatprovides`` (provides and files); a versioned provide is compared with specs.overlaps,
    a glob matched as dnf matches it (rpm 4.18 does neither on the command line).
    ``installed``: the names a query just read, if any; a spec that is one needs no rpm run."""
    listing: list[specs.Installed] | None = None
    found: dict[str, list[str]] = {}
    for spec in wanted:
        versioned = specs.versioned(spec)
        if known_name(spec, installed):
            names = [spec]
        elif versioned:
            names = _meeting(root, dbpath, versioned, env)
        elif specs.is_glob(spec):
            listing = _listing(root, dbpath, env) if listing is None else listing
            names = specs.match_glob(spec, listing)
        else:
            qf = _HIT + "%{NAME}\n"
            label = (
                []
                if spec.startswith("/")
                else query_argv(root, dbpath, spec, whatprovides=False, qf=qf)
            )
            names = (_ask(label, env) if label else []) or _ask(
                query_argv(root, dbpath, spec, whatprovides=True, qf=qf), env
            )
        found[spec] = sorted(set(names))
    return found
