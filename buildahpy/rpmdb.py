"""Reading the image's rpmdb with the host's rpm, and pruning packages from it.

Host binaries: rpm. Query formats and parsers are pure; ``query``/``erase`` run rpm with the
build's private environment so the user's macros never apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from .tools import run

# rpmsense flags (rpm/rpmds.h) of a Requires that only a scriptlet needs: Requires(pre),
# (post), (preun), (postun), (pretrans), (posttrans).
_SCRIPT_ONLY = (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 7) | (1 << 5)
_RPMLIB = 1 << 24
_RPMFILE_DOC = 1 << 1
_SEP = "\x1f"


@attrs.frozen
class Package:
    name: str
    nevra: str
    size: int
    requires: tuple[tuple[str, int], ...]
    weak: tuple[str, ...]
    provides: tuple[str, ...]
    files: tuple[tuple[str, int, int, str, str, int], ...]  # path size flags state lang mtime

    @property
    def runtime_requires(self) -> list[str]:
        return [n for n, f in self.requires if not f & (_SCRIPT_ONLY | _RPMLIB)]

    @property
    def install_requires(self) -> list[str]:
        return [n for n, f in self.requires if f & _SCRIPT_ONLY and not f & _RPMLIB]


def root_argv(root: str, dbpath: str) -> list[str]:
    return ["rpm", f"--root={root}", f"--dbpath={dbpath}"]


QUERY_FORMAT = (
    _SEP.join(
        [
            "@@%{NAME}",
            "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}",
            "%{LONGSIZE}",
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
        fields: dict[str, list[str]] = {"R": [], "W": [], "P": [], "F": []}
        for item in rest:
            if item[:1] in fields:
                fields[item[0]].append(item[1:])
        requires = tuple((r.split("\t")[0], int(r.split("\t")[1])) for r in fields["R"])
        files = tuple(_file(f) for f in fields["F"])
        packages[name] = Package(
            name, nevra, int(size or 0), requires, tuple(fields["W"]), tuple(fields["P"]), files
        )
    return packages


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


def erase(root: str, dbpath: str, names: Sequence[str], env: Mapping[str, str]) -> None:
    # --nodeps: only scriptlet requirements point at these; --noscripts: their removal
    # scriptlets would need the very tools being removed.
    run(
        [*root_argv(root, dbpath), "-e", "--nodeps", "--noscripts", "--notriggers", *names],
        env=env,
        hint="cannot prune install-time-only packages",
    )


def provider_map(packages: Mapping[str, Package]) -> dict[str, list[str]]:
    """Capability (provide or file path) -> names of the packages that satisfy it."""
    providers: dict[str, list[str]] = {}
    for package in packages.values():
        for capability in (*package.provides, *(f[0] for f in package.files), package.name):
            providers.setdefault(capability, []).append(package.name)
    return providers


def doc_or_lang_bytes(packages: Iterable[Package]) -> tuple[int, int]:
    """Bytes of %doc files and of other-language files that rpm did not install."""
    docs = langs = 0
    for package in packages:
        for _path, size, flags, state, lang, _mtime in package.files:
            if state != "not installed":
                continue
            if flags & _RPMFILE_DOC:
                docs += size
            elif lang:
                langs += size
    return docs, langs
