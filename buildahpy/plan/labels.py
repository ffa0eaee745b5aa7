"""The labels buildahpy writes on every image it builds, and reads back to decide a rebuild.

Always set, so an image never carries its base's values.
"""

LABEL_INPUTS = "io.buildahpy.inputs"  # the digest of what the image was built from
LABEL_PACKAGES = "io.buildahpy.packages"  # name-version-release.arch of each package, spaced
LABEL_CREATED = "org.opencontainers.image.created"  # the image's time (plan/timestamp.py)
# What the recipe asked for, as `why` and --explain start their chains: the installed packages
# satisfying its specs, in the specs' order, and the base image's packages (names, spaced).
LABEL_REQUESTED = "io.buildahpy.requested"
LABEL_BASE_PACKAGES = "io.buildahpy.base-packages"
