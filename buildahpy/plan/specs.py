"""What a recipe's package specs mean, decided as data (rpmdb.satisfying asks rpm for the facts).

dnf accepts a name, name-version[-release][.arch], name.arch, globs over those, provides
(``libssl.so.3()(64bit)``, ``pkgconfig(zlib)``), files (``/usr/sbin/nginx``) and a provide with a
version comparison (``glibc >= 2.36``). This module tells the forms apart, matches globs the
way dnf does (fnmatch over each package's name-version-release forms, then its provides, then
its files) and decides whether a versioned provide meets a comparison, with rpm's ordering of
versions (``~`` before anything, ``^`` after the end, digits newer than letters). Starts nothing.
"""

from __future__ import annotations

import fnmatch
import re
import string
from collections.abc import Iterable, Sequence

import attrs

LESS, GREATER, EQUAL = 1 << 1, 1 << 2, 1 << 3  # rpmsense comparison bits (rpm/rpmds.h)
OPERATORS = {"<": LESS, "<=": LESS | EQUAL, "=": EQUAL, ">=": GREATER | EQUAL, ">": GREATER}
GLOB_CHARS = frozenset("*?[")
_ALNUM = frozenset(string.ascii_letters + string.digits)
_VERSIONED = re.compile(r"^(\S+) (<=|>=|<|>|=) (\S+)$")
_VERSION_PART = re.compile(r"^\d[A-Za-z0-9_.+~^]*$|^\d+:\S+$")
_ARCHES = frozenset(
    {"noarch", "x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7hl", "riscv64", "src"}
)


@attrs.frozen
class Versioned:
    """``name OP evr``: a provide named ``name`` whose version compares as asked."""

    name: str
    flags: int
    evr: str


@attrs.frozen
class Installed:
    """One installed package as the glob matcher sees it (from rpmdb.satisfying's listing)."""

    name: str
    epoch: str
    version: str
    release: str
    arch: str
    provides: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def labels(self) -> list[str]:
        """The name-version-release forms dnf matches a spec against."""
        n, e, v, r, a = self.name, self.epoch, self.version, self.release, self.arch
        return [
            n,
            f"{n}.{a}",
            f"{n}-{v}",
            f"{n}-{e}:{v}",
            f"{n}-{v}-{r}",
            f"{n}-{e}:{v}-{r}",
            f"{n}-{v}-{r}.{a}",
            f"{n}-{e}:{v}-{r}.{a}",
        ]


def versioned(spec: str) -> Versioned | None:
    found = _VERSIONED.match(spec)
    return Versioned(found[1], OPERATORS[found[2]], found[3]) if found else None


def is_glob(spec: str) -> bool:
    return bool(GLOB_CHARS & set(spec))


def match_glob(spec: str, installed: Iterable[Installed]) -> list[str]:
    """Names of the installed packages a glob selects: by name-version-release forms first,
    else by provides, else (a path) by files, as dnf tries them in that order."""
    packages = list(installed)
    for tier in ("labels", "provides", "files"):
        if tier == "files" and not spec.startswith("/"):
            break
        found = [p.name for p in packages if fnmatch.filter(_candidates(p, tier), spec)]
        if found:
            return sorted(set(found))
    return []


def _candidates(package: Installed, tier: str) -> Sequence[str]:
    if tier == "labels":
        return package.labels()
    return package.provides if tier == "provides" else package.files


def names_in(spec: str) -> list[str]:
    """Package names a spec may stand for, before anything is installed (for the small
    alternatives: a large package the recipe names by version is still named)."""
    wanted = versioned(spec)
    if wanted:
        return [wanted.name]
    names = [spec]
    base, _, arch = spec.rpartition(".")
    if base and arch in _ARCHES:
        names.append(spec := base)
    for _ in range(2):  # -release, then -version
        head, _, tail = spec.rpartition("-")
        if not head or not _VERSION_PART.match(tail):
            break
        names.append(spec := head)
    return names


def vercmp(a: str, b: str) -> int:
    """rpm's ordering of two version (or release) strings: -1, 0 or 1."""
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and a[i] not in _ALNUM and a[i] not in "~^":
            i += 1
        while j < len(b) and b[j] not in _ALNUM and b[j] not in "~^":
            j += 1
        x, y = a[i : i + 1], b[j : j + 1]
        if "~" in (x, y):  # a pre-release: older than anything, the end included
            if x != y:
                return -1 if x == "~" else 1
            i, j = i + 1, j + 1
            continue
        if "^" in (x, y):  # a post-release snapshot: newer than the end, older than more
            if x != y:
                return -1 if not x else 1 if not y else 1 if y == "^" else -1
            i, j = i + 1, j + 1
            continue
        if not x or not y:
            break
        kind = string.digits if x.isdigit() else string.ascii_letters
        si, sj = _run(a, i, kind), _run(b, j, kind)
        i, j = i + len(si), j + len(sj)
        if not sj:  # a number against letters: the number is newer
            return 1 if kind == string.digits else -1
        if kind == string.digits:
            si, sj = si.lstrip("0"), sj.lstrip("0")
            if len(si) != len(sj):
                return 1 if len(si) > len(sj) else -1
        if si != sj:
            return 1 if si > sj else -1
    rest_a, rest_b = i < len(a), j < len(b)
    return 0 if rest_a == rest_b else (1 if rest_a else -1)


def _run(text: str, start: int, kind: str) -> str:
    end = start
    while end < len(text) and text[end] in kind:
        end += 1
    return text[start:end]


def _split_evr(evr: str) -> tuple[str, str, str | None]:
    epoch, colon, rest = evr.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", evr
    version, dash, release = rest.rpartition("-")
    return (epoch, version, release) if dash else (epoch, rest, None)


def overlaps(provide_flags: int, provide_evr: str, wanted: Versioned) -> bool:
    """Does a provide (its comparison bits and version) meet ``wanted``? An unversioned side
    always does; a side without a release matches any release when it includes equality."""
    if not provide_evr or not wanted.evr or not provide_flags & (LESS | GREATER | EQUAL):
        return True
    (pe, pv, pr), (we, wv, wr) = _split_evr(provide_evr), _split_evr(wanted.evr)
    sense = vercmp(pe, we) or vercmp(pv, wv)
    if sense == 0 and pr is not None and wr is not None:
        sense = vercmp(pr, wr)
    elif sense == 0 and (
        (pr is not None and wanted.flags & EQUAL) or (wr is not None and provide_flags & EQUAL)
    ):
        return True
    pf, wf = provide_flags, wanted.flags
    if sense < 0:
        return bool(pf & GREATER or wf & LESS)
    if sense > 0:
        return bool(pf & LESS or wf & GREATER)
    return any(pf & bit and wf & bit for bit in (EQUAL, LESS, GREATER))


def meets(provides: Sequence[tuple[str, int, str]], wanted: Versioned) -> bool:
    """Whether any of a package's provides (name, flags, evr) meets ``wanted``."""
    return any(name == wanted.name and overlaps(f, evr, wanted) for name, f, evr in provides)
