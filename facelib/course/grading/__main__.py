"""``python -m facelib.course.grading``: release, validate and grade the lessons."""

import sys

from facelib.course.grading.classroom import _main

sys.exit(_main())
