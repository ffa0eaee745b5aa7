"""openat2(2) with RESOLVE_IN_ROOT: open a path as if the directory fd were ``/`` (Linux 5.6+).

The kernel resolves every component, links included, inside that directory: an absolute link,
any number of ``..`` or a linked parent can never lead out of it. Magic links (/proc/self/fd/N)
are refused outright.
"""

from __future__ import annotations

import ctypes
import errno
import os

from buildahpy.errors import PreflightError

_SYS_OPENAT2 = 437  # the same number on every architecture (generic syscall table)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_libc = ctypes.CDLL(None, use_errno=True)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    while True:
        fd = _libc.syscall(
            _SYS_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how)
        )
        if fd >= 0:
            return int(fd)
        err = ctypes.get_errno()
        if err == errno.EAGAIN or err == errno.EINTR:
            continue
        if err == errno.ENOSYS:
            raise PreflightError("the kernel has no openat2(2); buildahpy needs Linux 5.6 or later")
        raise OSError(err, os.strerror(err), path)
