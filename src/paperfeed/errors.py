"""Errors raised by paperfeed's library code.

Only the faces (CLI, web) turn these into exit codes and messages.

    PaperfeedError
    ├── InputError            bad input from a file or a remote source
    │   ├── FormatError       the format of a file could not be detected or is unknown
    │   ├── RecordError       one record (file + line/record) is malformed
    │   │   └── FileRejected  a file was refused whole because of its bad records
    │   └── Conflict          a name or address is already taken
    ├── SourceError           a remote source failed after its retries
    ├── NotFound              a paper, author or profile does not exist
    ├── Forbidden             the user may not see or change that
    └── StoreError            the database is unusable (newer schema, corrupt)
"""

from __future__ import annotations


class PaperfeedError(Exception):
    """Base class of every error paperfeed raises on purpose."""


class InputError(PaperfeedError):
    """Input that paperfeed cannot use."""


class FormatError(InputError):
    """A file's format is unknown or could not be detected."""


class RecordError(InputError):
    """One malformed record; names the file, the line or record, and what was wrong."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


class FileRejected(InputError):
    """A file refused whole because some of its records are malformed; nothing was stored."""

    def __init__(self, path: str, errors: list[RecordError]) -> None:
        shown = "\n".join(f"  {e}" for e in errors[:10])
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        super().__init__(
            f"{path}: refused, {len(errors)} bad record(s); nothing from it was stored\n"
            f"{shown}{more}"
        )
        self.path = path
        self.errors = errors


class Conflict(InputError):
    """A name or address that must be unique is already taken."""


class Forbidden(PaperfeedError):
    """The user may not see or change what they asked for."""


class SourceError(PaperfeedError):
    """A remote source kept failing after polite retries."""


class NotFound(PaperfeedError):
    """The paper, author or profile asked for does not exist."""


class StoreError(PaperfeedError):
    """The database cannot be used as it is."""


class StoreBusy(StoreError):
    """Another write is under way and the caller chose not to wait for it."""
