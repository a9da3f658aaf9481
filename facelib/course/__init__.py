"""The course machinery: notebook checkers, widgets, the notebook runner and nbgrader grading."""
