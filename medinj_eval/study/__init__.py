"""Whole studies as one file: ``studies/<name>.yaml`` -> a graph of steps (mix, train,
evaluate, judge, compare, tables) that run once each, locally or as Slurm jobs."""


class StudyError(ValueError):
    """A study file, an output folder or an executor that cannot be used; one line."""
