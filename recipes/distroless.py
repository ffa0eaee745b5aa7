"""Distroless-style variants of one image from one function, as gcr.io/distroless publishes them:
``:latest`` runs as root, ``:nonroot`` as uid 65532, ``:debug`` adds a busybox shell at
/busybox/sh. ``recipe(..., name=...)`` gives each variant its own recipe name."""

from functools import partial

from buildahpy import recipe

NONROOT = 65532


def distroless(image, *, nonroot: bool = False, debug: bool = False) -> None:
    image.install("glibc-minimal-langpack")
    image.add_group("nonroot", NONROOT)
    image.add_user("nonroot", NONROOT, NONROOT, home="/home/nonroot")
    image.mkdir("/home/nonroot", 0o700, owner="nonroot")  # no chown binary in the image
    if debug:
        image.install("busybox")
        image.symlink("/usr/sbin/busybox", "/busybox/sh")  # the missing /busybox is made
        image.config(entrypoint=["/busybox/sh"])
    image.config(
        user=f"{NONROOT}:{NONROOT}" if nonroot else "0:0",
        workdir="/home/nonroot" if nonroot else "/",
        labels={"org.opencontainers.image.title": "distroless"},
    )


for variant, options in {
    "latest": {},
    "nonroot": {"nonroot": True},
    "debug": {"debug": True},
}.items():
    recipe(f"localhost/distroless:{variant}", name=f"distroless_{variant}")(
        partial(distroless, **options)
    )
