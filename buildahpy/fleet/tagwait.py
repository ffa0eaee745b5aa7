"""The scheduler's side of the tag locks (privilege/tags.py): two runs on one storage that want
the same tag settle it one after the other, and the one that waits says so, once:

    web  waiting for localhost/web:latest: being built by pid 4242 since 02:55:01

A recipe's own tag is claimed before it is decided (up to date or built) and released when it is
settled. A base image that another run builds (``base="localhost/base"``, no recipe of this run
builds it) is waited for, without taking it, before it is looked up: it may not exist yet.
Waiting holds no lock, so two runs that wait on each other's bases cannot deadlock. Once the wait
is over the tag is read again (``refresh``): the other run's image may be up to date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from buildahpy.api.recipe import normalise_tag
from buildahpy.log import get_logger
from buildahpy.privilege import tags


class TagWaits:
    def __init__(self, refresh: Callable[[list[str]], None] = lambda references: None) -> None:
        self.refresh = refresh
        self.held: dict[str, tags.TagLock] = {}  # by recipe name
        self.waited: dict[str, set[str]] = {}  # recipe name -> the tags it waited for

    def ready(self, name: str, tag: str, base_image: str | None) -> bool:
        """Whether recipe ``name`` may be decided now: no other run builds its base image, and
        this run holds its tag's lock (taken now, or on an earlier call)."""
        if name in self.held:
            return True
        base = normalise_tag(base_image) if base_image else None
        if base is not None and not self._free(name, base, tags.building(base)):
            return False
        claimed = tags.try_claim(tag)
        if isinstance(claimed, tags.Holder):
            return self._free(name, tag, claimed)
        self.held[name] = claimed
        waited = self.waited.pop(name, set())
        if waited:  # what the other run made of them
            self.refresh(sorted(waited | {tag}))
        return True

    def _free(self, name: str, tag: str, holder: tags.Holder | None) -> bool:
        if holder is None:
            return True
        if tag not in self.waited.setdefault(name, set()):
            self.waited[name].add(tag)
            line = holder.line(tag)
            get_logger().info(
                "waiting for another run", recipe=name, tag=tag, pid=holder.pid, _text=line
            )
        return False

    def settle(self, names: Iterable[str]) -> None:
        """Release the locks of the recipes that are settled."""
        for name in names:
            lock = self.held.pop(name, None)
            if lock is not None:
                tags.release(lock)

    def close(self) -> None:
        self.settle(list(self.held))
