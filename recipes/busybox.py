"""The talk's busybox base: one static binary and a symlink in /bin for every applet."""

from buildahpy import recipe

BUSYBOX = "/usr/sbin/busybox"  # where Fedora's busybox package puts it


@recipe("localhost/busybox:latest")
def busybox(image):
    image.install("busybox")
    image.mkdir("/bin")
    for applet in image.query([BUSYBOX, "--list"]).split():
        image.symlink(BUSYBOX, f"/bin/{applet}")
    image.config(entrypoint=["/bin/sh"], labels={"org.opencontainers.image.title": "busybox"})
