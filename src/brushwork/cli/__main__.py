"""``python -m brushwork.cli``: the command line, as before it became a package (the tests
start servers and pipes this way)."""

import sys

from . import main

sys.exit(main())
