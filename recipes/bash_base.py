"""The talk's "distroless" bash base: glibc, bash and the small alternatives; no package manager."""

from buildahpy import recipe


@recipe("localhost/bash-base:latest")
def bash_base(image):
    image.install("glibc", "bash", "glibc-minimal-langpack", "coreutils-single")
    image.config(entrypoint=["/bin/bash"], labels={"org.opencontainers.image.title": "bash-base"})
