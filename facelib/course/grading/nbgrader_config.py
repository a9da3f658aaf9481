"""nbgrader configuration of the course; `make assignments` copies it into build/course/.

The course folder (source/, release/, submitted/, autograded/, feedback/, gradebook.db) is
generated under build/course by `python -m facelib.course.grading assignments`; one assignment per
lesson notebook, named after it (e.g. 06_style_transfer_costs).
"""

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 (nbgrader defines it)

c.CourseDirectory.course_id = "facelib"

# Seconds a cell may run when grading or validating (nbgrader's default is 30). The slowest
# legitimate cell of a graded lesson is its first import of TensorFlow: 35 s measured on 2 busy
# CPU cores; a cell over the limit is interrupted and the kernel goes on with the next cell.
# `grade` adds a limit for the whole notebook (--minutes, default 10) and runs every kernel in
# its sandbox (facelib/course/grading/sandbox.py); those settings are made in code, not here.
c.Execute.timeout = 180

# Student copies: the solution becomes the usual stub; hidden tests are removed from them.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Feedback pages leave the hidden tests out (nbgrader's default shows them, with an instructor's
# secret asserts); `grade` refuses a page that still shows a hidden-tests marker.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
