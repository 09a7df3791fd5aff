"""User-facing errors. The CLI prints these as one paragraph, without a traceback, and exits 2."""


class VlevalError(Exception):
    """An error the user can fix: the message says what is wrong and how to fix it."""


class DataMissingError(VlevalError):
    """A benchmark file, checkpoint or prediction file is not where it should be."""


class DataCorruptError(VlevalError):
    """A file exists but cannot be used (bad md5, undecodable row, missing column)."""


class EndpointUnavailableError(VlevalError):
    """An OpenAI-compatible server refuses the API key (401/403) or does not answer at all: every
    further request would fail the same way, so none is sent."""


class JudgeUnavailableError(EndpointUnavailableError):
    """The LLM judge cannot be used (its key is refused, it is unreachable): scoring stops with one
    line; answers that did arrive stay cached, so a re-run asks only the rest."""
