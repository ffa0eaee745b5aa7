"""Working containers and images: buildah (and podman for the size users see in ``podman images``).

Host binaries: buildah, podman. Argument lists come from pure ``*_argv`` functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from .config import ImageConfig
from .errors import CommandError
from .tools import run


def from_scratch_argv(name: str) -> list[str]:
    return ["buildah", "from", "--name", name, "--pull=never", "scratch"]


def config_argv(name: str, config: ImageConfig) -> list[str]:
    argv = ["buildah", "config"]
    if config.entrypoint is not None:
        argv.append(f"--entrypoint={json.dumps(list(config.entrypoint))}")
    if config.cmd is not None:
        argv.append(f"--cmd={json.dumps(list(config.cmd))}")
    argv += [f"--env={key}={value}" for key, value in sorted(config.env)]
    if config.workdir is not None:
        argv.append(f"--workingdir={config.workdir}")
    if config.user is not None:
        argv.append(f"--user={config.user}")
    argv += [f"--port={port}" for port in sorted(config.ports)]
    argv += [f"--label={key}={value}" for key, value in sorted(config.labels)]
    argv += [f"--volume={volume}" for volume in sorted(config.volumes)]
    return [*argv, name]


def commit_argv(name: str, iidfile: str) -> list[str]:
    # No image name: the tag is added only once the image is complete, so a failed or
    # interrupted commit can never move the tag off the previous image.
    return ["buildah", "commit", "--quiet", "--format=oci", f"--iidfile={iidfile}", name]


def run_argv(name: str, argv: Sequence[str]) -> list[str]:
    # crun's default isolation needs rlimits some hosts refuse; chroot isolation runs anywhere.
    return ["buildah", "run", "--isolation=chroot", name, "--", *argv]


def create(name: str) -> None:
    run(from_scratch_argv(name), hint="cannot create the working container")


def remove(name: str) -> None:
    run(["buildah", "rm", name], hint="cannot remove the working container")


def mount(name: str) -> str:
    return run(["buildah", "mount", name], hint="cannot mount the working container").stdout.strip()


def umount(name: str) -> None:
    run(["buildah", "umount", name], hint="cannot unmount the working container")


def configure(name: str, config: ImageConfig) -> None:
    run(config_argv(name, config), hint="buildah config failed")


def commit(name: str, iidfile: str) -> str:
    run(commit_argv(name, iidfile), hint="buildah commit failed")
    with open(iidfile) as handle:
        return handle.read().strip().removeprefix("sha256:")


def run_in(name: str, argv: Sequence[str]) -> str:
    return run(run_argv(name, argv), hint=f"{argv[0]} failed inside the image").stdout


def tag(image_id: str, tag_name: str) -> None:
    run(["buildah", "tag", image_id, tag_name], hint=f"cannot tag the image as {tag_name}")


def remove_image(image_id: str) -> None:
    run(["buildah", "rmi", image_id], hint="cannot remove the image")


def image_id(reference: str) -> str | None:
    """The full id of a local image, or None when there is none under that reference."""
    try:
        out = run(
            ["buildah", "inspect", "--type=image", "--format={{.FromImageID}}", reference],
            quiet=True,
        ).stdout
    except CommandError:
        return None
    return out.strip() or None


def image_size(image: str) -> int:
    """Uncompressed size in bytes, as ``podman images`` shows it."""
    out = run(["podman", "image", "inspect", "--format={{.Size}}", image]).stdout
    return int(out.strip())


def containers(prefix: str = "") -> list[str]:
    out = run(["buildah", "containers", "--json"], quiet=True).stdout
    names = [entry.get("containername", "") for entry in json.loads(out or "null") or []]
    return [n for n in names if n.startswith(prefix)]
