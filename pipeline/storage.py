"""Storage failures (full disk, quota, read-only file system): told apart from bad input.

A full disk is not the scene's fault: it must stop the build with the file named so the user
can free space and resume, never be recorded as a permanent rejection of the scene.
"""

from __future__ import annotations

import errno
from contextlib import contextmanager
from pathlib import Path

STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def is_storage_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in STORAGE_ERRNOS


@contextmanager
def naming_write_errors(path: Path):
    """Re-raise a storage error that names no file (ENOSPC from ``write``) with ``path`` in it."""
    try:
        yield
    except OSError as exc:
        if not is_storage_error(exc) or exc.filename is not None:
            raise
        raise OSError(exc.errno, f"{exc.strerror} while writing", str(path)) from exc
