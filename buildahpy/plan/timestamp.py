"""The one time an image carries: which it is, and the forms it takes (label, shadow days).

Pure. The rule: ``SOURCE_DATE_EPOCH`` when the user sets it; otherwise the newest BUILDTIME of
the packages in the finished image (as apko does), so that the same packages give the same time;
an image with no package at all gets 0 (1970-01-01). Never the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import attrs

from buildahpy.errors import UsageError

ENV = "SOURCE_DATE_EPOCH"
FROM_ENV = "SOURCE_DATE_EPOCH"
FROM_PACKAGES = "newest package BUILDTIME"
NO_PACKAGES = "no packages (epoch 0)"


@attrs.frozen
class Timestamp:
    epoch: int
    source: str  # FROM_ENV, FROM_PACKAGES or NO_PACKAGES: said in the log, and in the README

    @property
    def rfc3339(self) -> str:
        return rfc3339(self.epoch)


def from_environ(environ: Mapping[str, str]) -> int | None:
    """The user's SOURCE_DATE_EPOCH (an integer count of seconds), None when unset or empty."""
    value = environ.get(ENV, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise UsageError(f"{ENV}={value!r}: must be a whole number of seconds since 1970")
    return int(value)


def install_epoch(user_epoch: int | None) -> int:
    """What rpm records as INSTALLTIME/INSTALLTID (rpm >= 4.18 reads SOURCE_DATE_EPOCH for
    them). Without the user's value the image's time is only known after the install, so the
    transactions record 0: constant, where the wall clock would differ on every build."""
    return 0 if user_epoch is None else user_epoch


def decide(user_epoch: int | None, buildtimes: Iterable[int]) -> Timestamp:
    if user_epoch is not None:
        return Timestamp(user_epoch, FROM_ENV)
    newest = max(buildtimes, default=None)
    if newest is None:
        return Timestamp(0, NO_PACKAGES)
    return Timestamp(newest, FROM_PACKAGES)


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def days(epoch: int) -> int:
    """/etc/shadow's unit for the last password change."""
    return epoch // 86400
