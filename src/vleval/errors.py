"""User-facing errors. The CLI prints these as one paragraph, without a traceback, and exits 2."""


class VlevalError(Exception):
    """An error the user can fix: the message says what is wrong and how to fix it."""


class DataMissingError(VlevalError):
    """A benchmark file, checkpoint or prediction file is not where it should be."""


class DataCorruptError(VlevalError):
    """A file exists but cannot be used (bad md5, undecodable row, missing column)."""
