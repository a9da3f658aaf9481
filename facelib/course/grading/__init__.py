"""nbgrader assignments and grading of the lessons (``python -m facelib.course.grading --help``)."""
