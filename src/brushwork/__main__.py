"""``python -m brushwork``: the command line, for environments without the console script
(a GPU machine that runs the working tree from ``PYTHONPATH=src``)."""

import sys

from .cli import main

sys.exit(main())
