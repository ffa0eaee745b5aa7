"""A recipe's size budget, ``@recipe(..., max_size="25 MB", max_growth="5%")``, parsed when the
recipe file loads (pure; plan/budget.py decides whether a build keeps to it).
"""

from __future__ import annotations

import re

import attrs

# Decimal units as ``podman images`` and the size report print them, binary ones as asked.
UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


def parse_size(value: object, what: str) -> int:
    """'25 MB' -> 25000000, '1.5 MiB' -> 1572864; a bare int is bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    found = _SIZE.match(value) if isinstance(value, str) else None
    unit = found[2].lower() if found else ""
    if not found or unit not in UNITS:
        raise ValueError(
            f"{what}={value!r}: expected a size such as '25 MB' "
            "(units B, kB, MB, GB, KiB, MiB, GiB)"
        )
    return int(float(found[1]) * UNITS[unit])


@attrs.frozen
class Growth:
    """How much an image may grow against the one it replaces: a share, or bytes."""

    percent: float | None = None
    size: int | None = None

    def allowed(self, previous: int) -> int:
        """The most bytes the image may grow by, against a previous image of ``previous``."""
        if self.percent is not None:
            return int(previous * self.percent / 100)
        return self.size or 0

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else f"{self.size} bytes"


def parse_growth(value: object) -> Growth:
    """'5%' (of the previous image's size) or a size ('2 MB')."""
    found = _PERCENT.match(value) if isinstance(value, str) else None
    if found:
        return Growth(percent=float(found[1]))
    try:
        return Growth(size=parse_size(value, "max_growth"))
    except ValueError:
        raise ValueError(
            f"max_growth={value!r}: expected a share such as '5%' or a size such as '2 MB'"
        ) from None


@attrs.frozen
class Budget:
    max_size: int | None = None  # bytes on disk, as the size report measures them
    max_growth: Growth | None = None
    given: tuple[tuple[str, str], ...] = ()  # what the recipe wrote, for messages

    @classmethod
    def from_options(cls, max_size: object, max_growth: object) -> Budget:
        given = tuple(
            (key, str(value))
            for key, value in (("max_size", max_size), ("max_growth", max_growth))
            if value is not None
        )
        return cls(
            None if max_size is None else parse_size(max_size, "max_size"),
            None if max_growth is None else parse_growth(max_growth),
            given,
        )

    @property
    def empty(self) -> bool:
        return self.max_size is None and self.max_growth is None
