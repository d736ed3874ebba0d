"""``python -m workflows.cli``: the ``ringmo`` command."""

from workflows.cli import run

run()
