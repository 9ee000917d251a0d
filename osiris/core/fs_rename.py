"""Rename without replacing: a rename never lands on something already at its target.

`os.rename` replaces a file, or an empty folder, at the target without a word. On Linux,
`renameat2(RENAME_NOREPLACE)` makes the kernel refuse instead, in the same atomic step as
the rename, so nothing can appear between a check and the move. Elsewhere, and on
filesystems without the flag, one lookup of the target comes first.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from functools import cache

if sys.platform.startswith("linux"):
    import posix  # never replaced by pyfakefs, unlike `os`

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP)

_FS_ENCODING = sys.getfilesystemencoding()  # what os.fsencode uses, without its call

Renameat2 = Callable[[int, bytes, int, bytes, int], int]


def rename_noreplace(source: str, target: str) -> None:
    """Rename `source` to `target`; FileExistsError when anything is at `target`.

    Other failures raise as `os.rename` does (FileNotFoundError, EXDEV across devices).
    """
    native = _renameat2()
    # pyfakefs swaps this module's `os` for a fake one; the kernel call would miss its files.
    if native is not None and os.rename is posix.rename:
        encoded = source.encode(_FS_ENCODING, "surrogateescape")
        into = target.encode(_FS_ENCODING, "surrogateescape")
        if native(_AT_FDCWD, encoded, _AT_FDCWD, into, _RENAME_NOREPLACE) == 0:
            return
        import ctypes

        code = ctypes.get_errno()
        if code not in _UNSUPPORTED:
            raise OSError(code, os.strerror(code), source, None, target)
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target)
    os.rename(source, target)


@cache
def _renameat2() -> Renameat2 | None:
    """libc's renameat2 (Linux, glibc 2.28+ or musl), loaded on first use; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]
