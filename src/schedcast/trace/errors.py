"""The reader's own error and warning types."""

from __future__ import annotations


class TraceError(ValueError):
    """A trace that cannot be read: not a trace, unsupported version, or corrupt.

    ``offset`` is the byte offset in the file where the problem was found (the start
    of the offending event, batch or field); ``path`` names the file when known.
    """

    def __init__(self, message: str, offset: int, path: str | None = None) -> None:
        self.message = message
        self.offset = offset
        self.path = path
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}byte offset {self.offset}: {self.message}"

    def with_path(self, path: str | None) -> "TraceError":
        self.path = path
        self.args = (self._render(),)
        return self


class TraceWarning(UserWarning):
    """Something odd that Go's parser accepts and the reader reads too (e.g. a CPU
    sample naming a stack the stack table lacks); the message says what."""


class TruncatedTraceWarning(TraceWarning):
    """A trace ended inside a generation (the process was killed, or the file is cut
    short); the reader kept every complete generation before that offset."""
