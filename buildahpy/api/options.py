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
