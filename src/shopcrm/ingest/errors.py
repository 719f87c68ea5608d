"""The ways an import can refuse a whole file (as opposed to rejecting single rows)."""

from __future__ import annotations


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message says why, in plain words.

    Nothing is written when this is raised. ``line`` names the line at fault when
    there is one (a bad byte, a header problem).
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)
