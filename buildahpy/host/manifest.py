"""Manifest lists: one tag naming an image per architecture (``buildah manifest``).

Host binaries: buildah. Argument lists come from pure ``*_argv`` functions. An image added
brings its own platform (the ``architecture``/``variant`` its config carries).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from buildahpy.errors import CommandError
from buildahpy.host.buildah import push_argv
from buildahpy.host.tools import run


def create(name: str, images: list[str]) -> str:
    """A new list under ``name`` holding ``images`` (ids); returns the list's id."""
    hint = f"cannot create the manifest list {name}"
    list_id = run(["buildah", "manifest", "create", name], hint=hint).stdout.strip()
    for image in images:
        run(["buildah", "manifest", "add", name, image], hint=f"cannot add {image} to {name}")
    return list_id


def remove(name: str) -> None:
    """Drop the name ``name`` of a list (the list itself goes with its last name). Never
    ``buildah rmi``: given a list's name, buildah 1.28 removes the host's image in it instead."""
    run(["buildah", "manifest", "rm", name], hint=f"cannot remove the manifest list {name}")


def inspect(name: str) -> dict[str, Any] | None:
    """The list under ``name`` (its JSON), None when ``name`` is no list (or nothing)."""
    try:
        out = run(["buildah", "manifest", "inspect", name], quiet=True).stdout
    except CommandError:
        return None
    found = json.loads(out or "null")
    return found if isinstance(found, dict) and "manifests" in found else None


def platforms(listed: dict[str, Any]) -> list[tuple[str, str]]:
    """(architecture, variant) of each image of a list, as ``inspect`` returned it."""
    entries = [entry.get("platform") or {} for entry in listed.get("manifests") or []]
    return [(str(p.get("architecture", "")), str(p.get("variant", ""))) for p in entries]


def digests(listed: dict[str, Any] | None) -> list[str]:
    """The manifest digests of a list's images, sorted ([] for no list)."""
    return sorted(str(entry.get("digest", "")) for entry in (listed or {}).get("manifests") or [])


def push_all_argv(name: str, destination: str, digestfile: str, **options: Any) -> list[str]:
    """``buildah manifest push --all``: the list and every image in it, with push's options."""
    argv = push_argv(name, destination, digestfile, **options)
    return ["buildah", "manifest", "push", "--all", *argv[2:]]


def push_all(name: str, destination: str, digestfile: Path, **options: Any) -> str:
    """The list and its images to ``destination`` (a registry, ``oci:``, ``oci-archive:``); the
    digest of the list written there."""
    run(
        push_all_argv(name, destination, str(digestfile), **options),
        quiet=bool(options.get("creds")),
    )
    return digestfile.read_text().strip()
