"""One hierarchy of errors for the whole project; the CLI alone turns them into exit codes.

Library code (``catalogs``, ``pipeline``, ``training``, ``workflows``) raises these and never
``SystemExit``: a function called from Python, a notebook or a Dask worker must not end the
process. ``ringmo`` (``workflows/cli``, and the trainer's ``python -m training.*`` entry points)
runs every command through :func:`catalogs.reporting.run_main`, which catches
:class:`RingmoError` once, prints ``ringmo: error: <what>: <why>`` on one line and exits with
:attr:`RingmoError.exit_code`; ``--debug`` (or ``RINGMO_DEBUG=1``) shows the traceback too.

Exit codes follow the usual split: 2 for a command that cannot mean anything (bad flag
values, bad config), 1 for a command that was understood but met bad data or a corpus in the
wrong state.

The classes subclass the builtin they refine (``ValueError``, ``FileNotFoundError``,
``OSError``) so callers that already catch those keep working.
"""

from __future__ import annotations


class RingmoError(Exception):
    """Base of every error ``ringmo`` reports as one line.

    ``what`` names the thing at fault (a file, a corpus, a flag); ``why`` says what is wrong
    with it and, where one exists, what to do about it.
    """

    exit_code = 1

    def __init__(self, what: str, why: str | None = None):
        self.what = str(what)
        self.why = why
        super().__init__(f"{self.what}: {why}" if why else self.what)


class UsageError(RingmoError, ValueError):
    """Flags or arguments that cannot mean anything (a bbox with ymin > ymax, a bad date)."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file or config value that is invalid (unknown key, wrong type, bad range)."""


class InputError(RingmoError, ValueError):
    """Input data that cannot be used: a missing path, an unreadable raster, a bad label table."""


class SceneError(InputError):
    """One scene that cannot be used; the build records it as rejected and goes on."""

    def __init__(self, uri: str, problem: str, status: str = "rejected"):
        super().__init__(uri, problem)
        self.uri = uri
        self.problem = problem
        self.status = status  # the scene status recorded (e.g. "too_coarse"); "rejected" by default


class SampleError(InputError):
    """A shard fragment that is not a valid sample (bad tar header, missing image, undecodable)."""


class CorpusError(RingmoError):
    """A corpus in the wrong state for the command: missing, incomplete, built otherwise."""


class NotACorpusError(CorpusError, FileNotFoundError):
    """A path that holds no corpus where a command needs one."""


class CheckpointError(InputError):
    """A file given as a checkpoint that is not one (or not one this command can use)."""


class StorageError(RingmoError, OSError):
    """The storage failed (full disk, quota, read-only): not the input's fault; rerun resumes."""


class RingmoWarning(UserWarning):
    """Something the user should know that did not stop the command (``ringmo: warning: ...``)."""
