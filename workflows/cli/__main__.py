"""``python -m workflows.cli``: the ``ringmo`` command."""

import sys

from workflows.cli import main

sys.exit(main())
