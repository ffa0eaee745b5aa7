"""Working containers and images: buildah, and podman where buildah has no such verb (the size
and digest ``podman images`` shows, ``podman untag``, inspecting many images in one call).

Host binaries: buildah, podman. Argument lists come from pure ``*_argv`` functions.
"""

from __future__ import annotations

import json
import resource
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from buildahpy.api.config import Healthcheck, ImageConfig
from buildahpy.errors import CommandError
from buildahpy.host import features
from buildahpy.host.tools import run
from buildahpy.log import get_logger

# The limits ``buildah run`` sets for the programs a recipe runs. Left to itself, buildah 1.43
# raises NOFILE and NPROC to the runtime's defaults (1048576), which needs CAP_SYS_RESOURCE
# ('setting "RLIMIT_NOFILE" limit ... operation not permitted' in a container or a user
# namespace); the limits we run with can always be set again. Where buildah has a default of its
# own (1.28: nproc=32768:32768) it keeps it: 1.28 applies that default before ours, so a higher
# limit of ours would be a raise again.
ULIMITS = {"nproc": resource.RLIMIT_NPROC, "nofile": resource.RLIMIT_NOFILE}


def current_limits() -> dict[str, tuple[int, int]]:
    return {name: resource.getrlimit(which) for name, which in ULIMITS.items()}


def ulimit_argv(
    limits: Mapping[str, tuple[int, int]], defaults: Mapping[str, str] | None = None
) -> list[str]:
    """``--ulimit=name=soft:hard`` for each limit (-1 is buildah's word for unlimited), or
    buildah's own default for it where it has one."""

    def value(limit: int) -> str:
        return "-1" if limit == resource.RLIM_INFINITY else str(limit)

    keep = defaults or {}
    return [
        f"--ulimit={name}={keep.get(name) or f'{value(soft)}:{value(hard)}'}"
        for name, (soft, hard) in sorted(limits.items())
    ]


def working_limits() -> list[str]:
    """What ``buildah from`` gets on this host (nothing if it has no --ulimit)."""
    if not features.buildah_has("from", "--ulimit"):
        return []
    return ulimit_argv(current_limits(), features.buildah_default_ulimits())


def platform_argv(platform: tuple[str, str] | None) -> list[str]:
    """``--arch``/``--variant`` of another architecture's image, in OCI's words (arm64, v8)."""
    if platform is None:
        return []
    arch, variant = platform
    return [f"--arch={arch}", *([f"--variant={variant}"] if variant else [])]


def from_argv(
    name: str,
    image: str,
    ulimits: Sequence[str] = (),
    platform: tuple[str, str] | None = None,
) -> list[str]:
    # never pull here: a fleet run resolves (and if need be pulls) bases before any build
    argv = ["buildah", "from", "--name", name, "--pull=never", *ulimits]
    return [*argv, *platform_argv(platform), image]


def config_argv(
    name: str,
    config: ImageConfig,
    created_by: str = "",
    platform: tuple[str, str] | None = None,
) -> list[str]:
    # --created-by: what ``podman history`` shows made the layer (else "/bin/sh")
    argv = ["buildah", "config", *([f"--created-by={created_by}"] if created_by else [])]
    argv += platform_argv(platform)
    if config.entrypoint is not None:
        argv.append(f"--entrypoint={json.dumps(list(config.entrypoint))}")
    if config.cmd is not None:
        argv.append(f"--cmd={json.dumps(list(config.cmd))}")
    argv += [f"--env={key}={value}" for key, value in sorted(config.env)]
    argv += [f"--env={key}-" for key in config.env_removed]  # buildah's word for unset
    if config.workdir is not None:
        argv.append(f"--workingdir={config.workdir}")
    if config.user is not None:
        argv.append(f"--user={config.user}")
    argv += [f"--port={port}" for port in sorted(config.ports)]
    argv += [f"--label={key}={value}" for key, value in sorted(config.labels)]
    argv += [f"--label={key}-" for key in config.labels_removed]
    argv += [f"--volume={volume}" for volume in sorted(config.volumes)]
    argv += [f"--annotation={key}={value}" for key, value in sorted(config.annotations)]
    argv += [f"--annotation={key}-" for key in config.annotations_removed]
    if config.stop_signal is not None:
        argv.append(f"--stop-signal={config.stop_signal}")
    if config.healthcheck is not None:
        argv += healthcheck_argv(config.healthcheck)
    return [*argv, name]


def healthcheck_argv(check: Healthcheck) -> list[str]:
    # buildah splits the value shell-like into HEALTHCHECK's test ("CMD-SHELL a b" becomes three
    # words), so only the exec form is given, quoted: ["CMD", argv...] comes out as written
    argv = [f"--healthcheck={shlex.join(['CMD', *check.cmd]) if check.cmd else 'NONE'}"]
    timings = {
        "interval": check.interval,
        "timeout": check.timeout,
        "start-period": check.start_period,
        "retries": None if check.retries is None else str(check.retries),
    }
    return argv + [f"--healthcheck-{key}={value}" for key, value in timings.items() if value]


def commit_argv(
    name: str,
    iidfile: str,
    pending: str | None = None,
    *,
    timestamp: int | None = None,
    docker: bool = False,
) -> list[str]:
    # Never the tag: it is added only once the image is complete, so a failed or interrupted
    # commit can never move it off the previous image. ``pending`` is a name only this build
    # uses, so whatever buildah stored before a signal stopped it can be found and removed.
    # ``--timestamp`` (buildah >= 1.16): the config's created, the history's and every file's
    # time in the layer, instead of the clock. ``docker``: the docker format, the only one
    # that keeps a healthcheck (buildah 1.28 and 1.43 drop it from an OCI image, with a warning).
    image_format = "docker" if docker else "oci"
    argv = ["buildah", "commit", "--quiet", f"--format={image_format}", f"--iidfile={iidfile}"]
    argv += [f"--timestamp={timestamp}"] if timestamp is not None else []
    argv.append(name)
    return [*argv, pending] if pending else argv


def run_argv(name: str, argv: Sequence[str]) -> list[str]:
    # crun's default isolation needs rlimits some hosts refuse; chroot isolation runs anywhere.
    return ["buildah", "run", "--isolation=chroot", name, "--", *argv]


def create(name: str, image: str = "scratch", platform: tuple[str, str] | None = None) -> None:
    run(
        from_argv(name, image, working_limits(), platform),
        hint="cannot create the working container",
    )


def remove(name: str) -> None:
    run(["buildah", "rm", name], hint="cannot remove the working container")


def mount(name: str) -> str:
    return run(["buildah", "mount", name], hint="cannot mount the working container").stdout.strip()


def umount(name: str) -> None:
    run(["buildah", "umount", name], hint="cannot unmount the working container")


def configure(
    name: str, config: ImageConfig, created_by: str = "", platform: tuple[str, str] | None = None
) -> None:
    run(config_argv(name, config, created_by, platform), hint="buildah config failed")


def image_digest(image: str) -> str:
    """The digest of a local image's manifest (``sha256:...``), "" when it has none."""
    out = run(["podman", "image", "inspect", "--format={{.Digest}}", image], quiet=True).stdout
    return out.strip()


def image_config(image: str) -> dict[str, Any]:
    """A local image's OCI config (entrypoint, env, labels ...): ``OCIv1.config``."""
    out = run(["buildah", "inspect", "--type=image", image], quiet=True).stdout
    return dict((json.loads(out or "{}").get("OCIv1") or {}).get("config") or {})


def image_labels(image: str) -> dict[str, str]:
    out = run(["buildah", "inspect", "--type=image", image], quiet=True).stdout
    config = (json.loads(out or "{}").get("OCIv1") or {}).get("config") or {}
    return dict(config.get("Labels") or {})


def commit(
    name: str,
    iidfile: str,
    pending: str | None = None,
    *,
    timestamp: int | None = None,
    docker: bool = False,
) -> str:
    # Shielded: buildah 1.28 stores the image and only then names it, and dies on SIGTERM or
    # SIGINT in between, leaving a nameless image nobody can tell apart. Let it finish; the
    # caller's undo then removes the image by its pending name.
    run(
        commit_argv(name, iidfile, pending, timestamp=timestamp, docker=docker),
        hint="buildah commit failed",
        shield=True,
    )
    with open(iidfile) as handle:
        return handle.read().strip().removeprefix("sha256:")


def run_in(name: str, argv: Sequence[str]) -> str:
    return run(run_argv(name, argv), hint=f"{argv[0]} failed inside the image").stdout


# buildah's chroot runner (chroot/run.go) relays the command's stdio in a goroutine and exits
# as soon as the command has, without waiting for that relay: a quick command's output is
# sometimes dropped, exit status 0 (seen 1 run in 150-400 on a loaded 2-CPU machine).
QUERY_ATTEMPTS = 3


def query_in(name: str, argv: Sequence[str]) -> str:
    """The output of a command that only reads: run again while it exits 0 having printed
    nothing at all, up to QUERY_ATTEMPTS runs."""
    out = ""
    for attempt in range(1, QUERY_ATTEMPTS + 1):
        done = run(run_argv(name, argv), hint=f"{argv[0]} failed inside the image")
        out = done.stdout
        if out or done.stderr:
            break
        get_logger().debug("query printed nothing", argv=list(argv), attempt=attempt)
    return out


def tag(image_id: str, tag_name: str) -> None:
    run(["buildah", "tag", image_id, tag_name], hint=f"cannot tag the image as {tag_name}")


def untag(image: str, name: str) -> None:
    """Remove one name and never the image, even when it was the last name (buildah has no
    untag: ``buildah rmi`` of an image's last name deletes the image)."""
    run(["podman", "untag", image, name], hint=f"cannot remove the name {name}")


def remove_image(*references: str) -> None:
    """Remove images; a reference that is one of several names of an image only untags it."""
    run(["buildah", "rmi", *references], hint="cannot remove the image")


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


def container_config(name: str) -> dict[str, object]:
    """The OCI config a working container has so far: its base image's, before ours is set."""
    out = run(["buildah", "inspect", "--type=container", name], quiet=True).stdout
    config = (json.loads(out or "{}").get("OCIv1") or {}).get("config") or {}
    return dict(config)


def image_size(image: str) -> int:
    """Uncompressed size in bytes, as ``podman images`` shows it."""
    out = run(["podman", "image", "inspect", "--format={{.Size}}", image]).stdout
    return int(out.strip())


def containers(prefix: str = "") -> list[str]:
    out = run(["buildah", "containers", "--json"], quiet=True).stdout
    names = [entry.get("containername", "") for entry in json.loads(out or "null") or []]
    return [n for n in names if n.startswith(prefix)]


def mounts() -> dict[str, str]:
    """Mounted working containers: name -> mountpoint (``buildah mount`` with no argument)."""
    out = run(["buildah", "mount"], quiet=True).stdout
    pairs = (line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {name: mountpoint.strip() for name, mountpoint in pairs}


def remove_containers(names: Sequence[str]) -> None:
    """Unmount and remove several containers in one call (``buildah rm`` does both)."""
    run(["buildah", "rm", *names], hint="cannot remove leftover working containers")


def pull(reference: str) -> str:
    """Pull an image the run builds on but does not build; returns its id."""
    run(["buildah", "pull", "--quiet", reference], hint=f"cannot pull the base image {reference}")
    found = image_id(reference)
    if found is None:
        raise CommandError(["buildah", "pull", reference], 0, "", hint="pulled image not found")
    return found


def inspect_images(references: Sequence[str]) -> list[dict[str, object]]:
    """Id, tags, digest, size and labels of the images that exist, in one call (``podman
    images`` would size every image in the storage: seconds once old builds pile up)."""
    if not references:
        return []
    try:
        out = run(["podman", "image", "inspect", *references], quiet=True).stdout
    except CommandError as error:  # exits 125 when one is missing, but prints the others
        out = error.stdout if error.stdout.lstrip().startswith("[") else ""
    images: list[dict[str, object]] = json.loads(out or "null") or []
    return images


def images() -> list[tuple[str, tuple[str, ...]]]:
    """Every local image (intermediate ones too) as (full id, its names), in one call."""
    out = run(["buildah", "images", "--all", "--json", "--no-trunc"], quiet=True).stdout
    entries = json.loads(out or "null") or []
    return [
        (str(entry["id"]).removeprefix("sha256:"), tuple(entry.get("names") or ()))
        for entry in entries
    ]


def half_written() -> list[str]:
    """Full ids of the images with no name and no manifest (``buildah images`` shows no
    digest): what a commit that failed half way leaves."""
    out = run(["buildah", "images", "--all", "--json", "--no-trunc"], quiet=True).stdout
    return [
        str(entry["id"]).removeprefix("sha256:")
        for entry in json.loads(out or "null") or []
        if not entry.get("names") and not entry.get("digest")
    ]


def image_names() -> list[str]:
    """Every name of every local image, in one call."""
    out = run(["buildah", "images", "--all", "--json"], quiet=True).stdout
    return [n for entry in json.loads(out or "null") or [] for n in entry.get("names") or []]


def graph_root() -> str:
    """The storage's GraphRoot: where its images, layers and containers are kept. Whoever shares
    the storage (another container bind-mounting it, another runroot) shares this directory."""
    out = run(["buildah", "info"], quiet=True, hint="buildah info failed").stdout
    return str(json.loads(out)["store"]["GraphRoot"])


def push_argv(
    image: str,
    destination: str,
    digestfile: str,
    *,
    authfile: str = "",
    tls_verify: bool | None = None,
    creds: str = "",
) -> list[str]:
    argv = ["buildah", "push", "--quiet", f"--digestfile={digestfile}"]
    argv += [f"--authfile={authfile}"] if authfile else []
    argv += [f"--tls-verify={str(tls_verify).lower()}"] if tls_verify is not None else []
    argv += [f"--creds={creds}"] if creds else []
    return [*argv, image, destination]


def push(image: str, destination: str, digestfile: Path, **options: Any) -> str:
    """Copy a local image to ``destination`` (any containers-transports(5) name); the digest of
    the manifest written there."""
    run(
        push_argv(image, destination, str(digestfile), **options), quiet=bool(options.get("creds"))
    )  # keep --creds out of the log
    return digestfile.read_text().strip()
