"""A fleet whose images live in a registry (--registry PREFIX, or the first --push destination):
what is there counts as up to date, a base found there is pulled when a build needs it, and
each image is pushed there as soon as it is built, so that the other shards can use it.

Ownership: with ``--shard I/N`` a recipe belongs to the shard its name hashes to (graph.py
shard_of); only that shard builds it. Another shard that needs it as a base waits until the
registry has it with the inputs digest this shard computes, up to ``--base-timeout`` seconds.

Host binaries: skopeo and buildah (through host/registry.py and host/buildah.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from buildahpy.api.recipe import Recipe
from buildahpy.errors import BuildError
from buildahpy.fleet import graph
from buildahpy.fleet.fleet import BUILT, REGISTRY, UP_TO_DATE, Entry, Reporter
from buildahpy.fleet.jobs import LocalImage, Waiting
from buildahpy.fleet.publish import Sent, send
from buildahpy.host import buildah, registry
from buildahpy.log import get_logger, step
from buildahpy.plan.labels import LABEL_INPUTS
from buildahpy.plan.publish import Publish, home


@attrs.define
class Remote:
    settings: Publish
    shard: tuple[int, int] | None = None
    timeout: float = 1800.0
    found: dict[str, registry.RemoteImage | None] = attrs.Factory(dict)  # by reference
    only_there: dict[str, Recipe] = attrs.Factory(dict)  # image id -> its recipe, not pulled
    pulled: list[str] = attrs.Factory(list)  # recipe names
    sent: list[Sent] = attrs.Factory(list)

    def reference(self, recipe: Recipe) -> str:
        return home(self.settings, recipe.name, recipe.tag)

    def owner(self, name: str) -> str:
        if self.shard is None:
            return "this run"
        return f"shard {graph.shard_of(name, self.shard[1])}/{self.shard[1]}"

    def owns(self, name: str) -> bool:
        return self.shard is None or graph.shard_of(name, self.shard[1]) == self.shard[0]

    def lookup(self, recipe: Recipe, *, again: bool = False) -> registry.RemoteImage | None:
        """What the registry has under the recipe's reference. One it cannot be asked (down,
        refusing the login) has nothing: the image is built here, and its push says why it
        fails, as without a registry."""
        reference = self.reference(recipe)
        if again or reference not in self.found:
            try:
                self.found[reference] = registry.inspect(reference, self.settings.options)
            except BuildError as exc:
                get_logger().warning("registry not read", recipe=recipe.name, cause=str(exc))
                self.found[reference] = None
        return self.found[reference]

    def matches(
        self, recipe: Recipe, digest: str, *, again: bool = False
    ) -> registry.RemoteImage | None:
        image = self.lookup(recipe, again=again)
        return image if image is not None and image.labels.get(LABEL_INPUTS) == digest else None

    def published(self, recipe: Recipe, digest: str, *, again: bool = False) -> LocalImage | None:
        """The image in the registry when it carries ``digest``, for a run that uses it from
        there: not pulled unless a build on it must run (fetch)."""
        image = self.matches(recipe, digest, again=again)
        if image is None:
            return None
        self.only_there[image.id] = recipe
        return LocalImage(id=image.id, digest="", size=0, labels=image.labels)

    def waiting(self, recipe: Recipe) -> Waiting:
        return Waiting(self.reference(recipe), self.timeout, self.owner(recipe.name))

    def fetch(self, image_id: str) -> None:
        """Pull a base that so far is only in the registry, as its recipe's tag."""
        recipe = self.only_there.get(image_id)
        if recipe is None or recipe.name in self.pulled:
            return
        reference = self.reference(recipe)
        with step("pull", image=reference):
            registry.pull(reference, image_id, self.settings.options)
            buildah.tag(image_id, recipe.tag)
        self.pulled.append(recipe.name)

    def push_home(self, entry: Entry) -> None:
        """A built image, or one up to date here but not in the registry, goes there now; only
        by the shard that owns it (another builds it too when its inputs cannot be known)."""
        recipe = entry.node.recipe
        if not self.owns(recipe.name):
            return
        if entry.status == UP_TO_DATE and entry.source != REGISTRY and entry.inputs:
            if not self.settings.push_all and self.matches(recipe, entry.inputs):
                return
        elif entry.status != BUILT:
            return
        reference = self.reference(recipe)
        self.sent.append(send(recipe.name, recipe.tag, reference, self.settings))
        self.found.pop(reference, None)

    def images(self) -> dict[str, LocalImage]:
        """tag -> what the registry has, for the table: the packages its label lists."""
        found = {}
        for recipe in self.only_there.values():
            image = self.found.get(self.reference(recipe))
            if image is not None:
                found[recipe.tag] = LocalImage(id=image.id, digest="", size=0, labels=image.labels)
        return found

    def reporter(self, inner: Reporter) -> Reporter:
        return _HomePush(self, inner)


@attrs.frozen
class _HomePush:
    remote: Remote
    inner: Reporter

    def started(self, entry: Entry) -> None:
        self.inner.started(entry)

    def finished(self, entry: Entry) -> None:
        self.inner.finished(entry)
        self.remote.push_home(entry)


def annotate(report: dict[str, Any], entries: Sequence[Entry], remote: Remote | None) -> None:
    """Where each image came from (``source``: this machine or the registry; ``pulled``) and
    the run's counts of builds, pulls and pushes, which ``buildahpy report merge`` adds up."""
    pulled = set(remote.pulled) if remote else set()
    by_name = {entry.name: entry for entry in entries}
    for image in report["images"]:
        entry = by_name[image["recipe"]]
        source = entry.source or ("local" if entry.status in (BUILT, UP_TO_DATE) else None)
        image["source"], image["pulled"] = source, entry.name in pulled
        if source == REGISTRY and not image["pulled"]:
            image["size"] = image["own_bytes"] = None  # not known without pulling it
    pushes = sum(
        1
        for image in report["images"]
        for sent in image.get("pushed", [])
        if sent["digest"] and sent["destination"].startswith("docker://")
    )
    report["totals"]["pulls"] = len(pulled)
    report["totals"]["pushes"] = pushes
    if remote is not None and remote.shard is not None:
        report["shard"] = f"{remote.shard[0]}/{remote.shard[1]}"
