"""The only code that starts processes or touches the host: the tool runner, buildah,
dnf (one flavour object per dnf), rpm, the confined rootfs (openat2), the shared cache,
the tools' features, user namespaces and preflight.

Imports ``plan`` and ``api``; never ``build`` or ``fleet``.
"""
