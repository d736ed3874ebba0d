"""The one error path of every ``ringmo`` command: an exception becomes one line and an exit code.

``ringmo`` (``workflows.cli``) and the trainer's own entry points (``python -m
training.pretrain`` under torchrun, which cannot import ``workflows``) run their ``main``
through :func:`run_main`, the way ``git`` and ``rio`` do it:

====================================  ======================================================  ====
raised                                 printed on stderr                                       exit
====================================  ======================================================  ====
:class:`~catalogs.errors.RingmoError`  ``ringmo: error: <what>: <why>``                        2 / 1
a storage ``OSError`` (full disk)      ``ringmo: error: <file>: <why>; finished work is kept`` 1
another ``OSError`` naming a file      ``ringmo: error: <file>: <why>``                        1
any other exception                    ``ringmo: error: internal error: <type>: <message>``    1
``KeyboardInterrupt``                  nothing                                                 130
====================================  ======================================================  ====

``--debug`` anywhere on the command line (or ``RINGMO_DEBUG=1``) prints the traceback too.
Warnings the library means for the user (:class:`~catalogs.errors.RingmoWarning`) print as
``ringmo: warning: <message>``. It lives in ``catalogs`` because ``training`` may import
nothing else of ours; it is the only place that writes errors to stderr.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Callable

from catalogs.errors import RingmoError, RingmoWarning, StorageError
from catalogs.store import is_storage_error

PROG = "ringmo"
DEBUG_FLAG = "--debug"
RESUME_HINT = "finished work is kept: free space (or fix the storage) and run the same command again to resume"


def debug_requested(argv: list[str]) -> bool:
    """``--debug`` before any ``--`` separator, or ``RINGMO_DEBUG`` set to anything but 0."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return DEBUG_FLAG in options or os.environ.get("RINGMO_DEBUG", "") not in ("", "0")


def without_debug(argv: list[str]) -> list[str]:
    """``argv`` less the ``--debug`` flags before any ``--`` (so every position works)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    return [a for a in argv[:cut] if a != DEBUG_FLAG] + argv[cut:]


def storage_error(error: OSError) -> StorageError:
    """A full disk (or quota, read-only file system) as a :class:`StorageError` naming the file."""
    where = error.filename or "storage"
    why = error.strerror or str(error)
    return StorageError(str(where), f"{why}; {RESUME_HINT}")


def error_line(error: BaseException) -> tuple[str, int]:
    """The one line (without the ``ringmo: error:`` prefix) and the exit code of ``error``."""
    if isinstance(error, OSError) and not isinstance(error, RingmoError) and is_storage_error(error):
        error = storage_error(error)
    if isinstance(error, RingmoError):
        return " ".join(str(error).split()), error.exit_code
    if isinstance(error, OSError) and error.filename and error.strerror:  # a path the user gave, most often
        return f"{error.filename}: {error.strerror}", 1
    detail = " ".join(str(error).split())
    name = type(error).__name__
    return f"internal error: {name}: {detail}" if detail else f"internal error: {name}", 1


def _show_warning(message, category, filename, lineno, file=None, line=None, *, default=warnings.showwarning):
    if issubclass(category, RingmoWarning):
        print(f"{PROG}: warning: {' '.join(str(message).split())}", file=sys.stderr)
    else:
        default(message, category, filename, lineno, file, line)


def run_main(main: Callable[[list[str]], int | None], argv: list[str] | None = None) -> int:
    """``main(argv)``'s exit code, every error reported as one line (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return main(without_debug(argv)) or 0
        except KeyboardInterrupt:
            if debug:
                traceback.print_exc()
            return 130
        except Exception as error:  # noqa: BLE001 - the one place every error is reported
            line, code = error_line(error)
            if debug:
                traceback.print_exc()
            elif line.startswith("internal error"):
                line += f" (rerun with {DEBUG_FLAG} for the traceback)"
            print(f"{PROG}: error: {line}", file=sys.stderr)
            return code
