"""Minimal without thinking: the smallest alternatives, and no install-time-only packages.

Pure decisions: which large providers to exclude from a transaction (so the solver picks the
small alternative), which installed packages only a scriptlet needed, and why each package is in
the image. The rpmdb facts come from ``rpmdb.query``.
"""

from __future__ import annotations

import fnmatch
from collections import deque
from collections.abc import Iterable, Mapping

import attrs

from buildahpy.plan.packages import Package, provider_map
from buildahpy.plan.specs import names_in


@attrs.frozen
class Alternative:
    """``small`` is installed instead of any of ``large`` when they would only come as deps."""

    small: str
    large: tuple[str, ...]


# Fedora's small alternatives (the talk's two, and the same idea elsewhere in the distribution).
ALTERNATIVES = (
    Alternative("glibc-minimal-langpack", ("glibc-all-langpacks", "glibc-langpack-*")),
    Alternative("coreutils-single", ("coreutils",)),
    Alternative("curl-minimal", ("curl",)),
    Alternative("libcurl-minimal", ("libcurl",)),
    Alternative("systemd-standalone-sysusers", ("systemd",)),
    Alternative("systemd-standalone-tmpfiles", ("systemd",)),
)


def preference_table(extra: Mapping[str, Iterable[str]] | None) -> tuple[Alternative, ...]:
    """The documented table, extended (or overridden per small package) by a recipe's own."""
    table = {alt.small: alt for alt in ALTERNATIVES}
    for small, large in (extra or {}).items():
        table[small] = Alternative(small, tuple(large))
    return tuple(table.values())


def excludes(
    table: Iterable[Alternative], named: Iterable[str], installed: Iterable[str]
) -> list[str]:
    """Large providers to hide from the solver. A package the recipe named (by any spec that
    may stand for its name: coreutils-9.1, coreutils >= 9), or one already in the image (a
    base), is never hidden; a rule whose large side the recipe named is skipped."""
    keep = {name for spec in named for name in names_in(spec)} | set(installed)
    hidden: list[str] = []
    for alt in table:
        if any(fnmatch.fnmatchcase(name, pattern) for name in keep for pattern in alt.large):
            continue
        hidden += [pattern for pattern in alt.large if pattern not in hidden]
    return hidden


def swaps(
    table: Iterable[Alternative], hidden: Iterable[str], installed: Iterable[str]
) -> list[str]:
    """'coreutils-single (not coreutils)' for each small alternative in a large one's place."""
    hidden, installed = set(hidden), set(installed)
    return [
        f"{alt.small} (not {', '.join(alt.large)})"
        for alt in table
        if alt.small in installed and set(alt.large) <= hidden
    ]


def resolve_roots(
    packages: Mapping[str, Package], satisfied: Mapping[str, Iterable[str]]
) -> list[str]:
    """The installed packages that satisfy a recipe's specs, from what rpm said satisfies each
    (rpmdb.satisfying: names, name-version-release, globs, provides, files, 'name >= v')."""
    roots: list[str] = []
    for names in satisfied.values():
        roots += [name for name in names if name in packages and name not in roots]
    return roots


def _resolve(providers: Mapping[str, list[str]], capability: str) -> list[str]:
    return providers.get(capability, [])


def runtime_closure(
    packages: Mapping[str, Package], roots: Iterable[str], weak: bool
) -> dict[str, tuple[str, str] | None]:
    """Packages reachable from ``roots`` through runtime Requires (and weak deps if ``weak``),
    each with the (parent, capability) that first reached it; roots map to None."""
    providers = provider_map(packages)
    reached: dict[str, tuple[str, str] | None] = {}
    queue: deque[str] = deque()
    for root in roots:
        for name in [root] if root in packages else _resolve(providers, root):
            if name not in reached:
                reached[name] = None
                queue.append(name)
    while queue:
        current = packages[queue.popleft()]
        needs = current.runtime_requires + (list(current.weak) if weak else [])
        for capability in needs:
            for name in _resolve(providers, capability.split(" ")[0]):
                if name not in reached:
                    reached[name] = (current.name, capability)
                    queue.append(name)
    return reached


# The filesystem layout and the account databases: scriptlets write into their files, so they
# are image state even when only a %pre asked for them. gpg-pubkey entries are the keys dnf
# imported from the repositories' gpgkey= (nothing requires them, yet they are the image's trust).
NEVER_PRUNED = frozenset({"setup", "filesystem", "basesystem", "gpg-pubkey"})


def install_time_only(
    packages: Mapping[str, Package], roots: Iterable[str], weak: bool
) -> list[str]:
    """Installed packages no runtime dependency of the recipe's packages reaches."""
    keep = runtime_closure(packages, roots, weak)
    return sorted(name for name in packages if name not in keep and name not in NEVER_PRUNED)


def leaves(packages: Mapping[str, Package]) -> list[str]:
    """The packages nothing else in the image requires at runtime: the roots of an image that
    does not say what was asked for. A group that only requires itself round (a cycle nothing
    else needs) adds its first name, so that every package is reached from some root."""
    providers = provider_map(packages)
    needed = {
        name
        for package in packages.values()
        for capability in package.runtime_requires
        for name in _resolve(providers, capability.split(" ")[0])
        if name != package.name
    }
    roots = sorted(name for name in packages if name not in needed)
    reached = runtime_closure(packages, roots, weak=False)
    for name in sorted(packages):
        if name not in reached:
            roots.append(name)
            reached = runtime_closure(packages, roots, weak=False)
    return roots


def required_by(packages: Mapping[str, Package], name: str) -> list[tuple[str, str]]:
    """(package, capability) for each other package that needs ``name`` at runtime."""
    providers = provider_map(packages)
    found = []
    for other in sorted(packages):
        for capability in packages[other].runtime_requires:
            if other != name and name in _resolve(providers, capability.split(" ")[0]):
                found.append((other, capability))
                break
    return found


def root_reasons(requested: Iterable[str], base: Iterable[str]) -> dict[str, str]:
    """Why each root of the chains is one: the recipe asked for it, or its base image had it."""
    return dict.fromkeys(base, "in the base image") | dict.fromkeys(requested, "requested")


def why(
    reached: Mapping[str, tuple[str, str] | None],
    name: str,
    roots: Mapping[str, str] | None = None,
) -> str:
    """'openssl-libs (libssl.so.3()(64bit)) <- nginx (requested)': the chain from a root;
    ``roots`` says why a root is one, where it is not 'requested'."""
    if name not in reached:
        return f"{name} (no runtime dependency reaches it: a scriptlet needed it)"
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        parent = reached.get(current)
        if parent is None:
            chain.append(f"{current} ({(roots or {}).get(current, 'requested')})")
            break
        chain.append(f"{current} ({parent[1]})")
        current = parent[0]
    return " <- ".join(chain)
