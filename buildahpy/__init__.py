"""buildahpy: minimal container images from RPM distributions, with buildah and the host's dnf."""

from buildahpy.api.recipe import recipe

__all__ = ["recipe"]
__version__ = "0.1.0"
