"""A recipe's minimisation options, as the user asked for them (plan/minimize.py decides)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs


@attrs.frozen
class Minimize:
    """A recipe's minimisation options (all on by default)."""

    alternatives: bool = True
    prefer: tuple[tuple[str, tuple[str, ...]], ...] = ()
    langs: tuple[str, ...] = ("C.UTF-8",)
    prune: bool = True

    @classmethod
    def from_options(
        cls, alternatives: object, prefer: object, langs: object, prune: object
    ) -> Minimize:
        if prefer is not None and not isinstance(prefer, Mapping):
            raise ValueError(f"prefer must map a small package to the large ones, not {prefer!r}")
        table = tuple(sorted((str(k), _names(v, "prefer")) for k, v in (prefer or {}).items()))
        lang_list = ("all",) if langs == "all" else _names(langs, "langs")
        if not lang_list or any(
            not lang.replace("_", "").replace(".", "").replace("-", "").replace("@", "").isalnum()
            for lang in lang_list
        ):
            raise ValueError(f"langs must be 'all' or locale names like 'C.UTF-8', not {langs!r}")
        return cls(bool(alternatives), table, lang_list, bool(prune))

    @property
    def install_langs(self) -> str:
        return ":".join(self.langs)


def _names(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{what}: expected package or locale names, not {value!r}")
    return tuple(value)


# rpm's architecture names -> OCI's (architecture, variant), as Fedora's multi-arch images say it
ARCHES = {
    "x86_64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
}
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def parse_arches(names: str | Iterable[str]) -> tuple[str, ...]:
    """``x86_64,aarch64`` (or a list, in rpm's or OCI's spelling) -> ('x86_64', 'aarch64')."""
    items = names.split(",") if isinstance(names, str) else list(names)
    found = []
    for item in (i.strip().lower() for i in items if i.strip()):
        arch = ARCH_ALIASES.get(item, item)
        if arch not in ARCHES:
            raise ValueError(f"unknown architecture {item!r}: expected one of {', '.join(ARCHES)}")
        found.append(arch)
    if not found:
        raise ValueError("no architecture given: expected e.g. x86_64,aarch64")
    return tuple(dict.fromkeys(found))
