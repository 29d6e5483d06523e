"""lm-eval glue shared by every task family: dataset dispatch, choices, scoring, the Task class."""
