"""``python -m facelib``: the command line (see :mod:`facelib.cli`)."""

import sys

from facelib.cli import main

sys.exit(main())
