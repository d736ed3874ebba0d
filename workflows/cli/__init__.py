"""The ``ringmo`` command line: one subcommand per job, each mapping flags onto its config.

Every command runs through :func:`catalogs.reporting.run_main`, the one error path: a
:class:`catalogs.errors.RingmoError` prints ``ringmo: error: <what>: <why>`` and exits 2
(usage/config) or 1 (data/state); anything else prints one ``internal error`` line; ``--debug``
(anywhere) or ``RINGMO_DEBUG=1`` adds the traceback. ``parsers`` holds the argparse parsers
(generated from the config dataclasses), ``commands`` what each subcommand does.
"""

from __future__ import annotations

import gc
import sys

from catalogs.reporting import run_main
from workflows.cli import commands
from workflows.cli.parsers import parser

__all__ = ["main", "parser", "run"]


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in commands.TRAINING_COMMANDS:  # training.* modules own these flags (torchrun too)
        return commands.TRAINING_COMMANDS[argv[0]](argv[1:])
    command = next((a for a in argv if not a.startswith("-")), "")  # --debug is the only top-level flag
    args = parser(command).parse_args(argv)
    return args.run(args) or 0


def main(argv: list[str] | None = None) -> int:
    """Run ``ringmo ARGV``; returns the exit code (``sys.exit(main())``)."""
    return run_main(_dispatch, argv)


def run() -> None:
    """The ``ringmo`` console script and ``python -m workflows.cli``: :func:`main`, then exit.

    Before exiting, the objects left are frozen (``gc.freeze``): the interpreter's last
    collections would walk every object of the libraries a command imported (GDAL, numba,
    Arrow, Dask, matplotlib), ~0.15 s after a build, to free memory the exit frees anyway.
    Only here, never in :func:`main`, which tests and notebooks call in a process that goes on.
    """
    code = main()
    gc.freeze()
    sys.exit(code)
