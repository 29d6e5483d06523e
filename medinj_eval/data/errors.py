"""The one error every loader raises for bad input: it names the file, the row and the field."""

from __future__ import annotations


class DataValidationError(ValueError):
    """A benchmark file does not match the schema of the benchmark it claims to be."""

    def __init__(self, file: str, row: int | str | None, field: str | None, problem: str):
        self.file, self.row, self.field, self.problem = file, row, field, problem
        where = f"{file}"
        if row is not None:  # a row number, or "line N" for line-based formats (BRAT)
            where += f", {row}" if str(row).startswith("line ") else f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}")
