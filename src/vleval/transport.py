"""The OpenAI-compatible transport's recording helper (minimal: the full transport, shared by the judge
client and the ``openai`` backend, replaces this file).

``redact_url``: a URL with its credentials removed, for what vleval records (run.json, summaries)."""

from __future__ import annotations

import urllib.parse

REDACTED = "***"
_SECRET_PARAMS = (
    "key",
    "api-key",
    "api_key",
    "apikey",
    "token",
    "access_token",
    "sig",
    "signature",
    "password",
)


def redact_url(url: str) -> str:
    """``url`` with ``user:password@`` and credential-like query values (``key``, ``api-key``,
    ``token``, ...) replaced by ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rpartition("@")[2]
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(
        f"{urllib.parse.quote(name, safe='-_.')}="
        + (REDACTED if name.lower() in _SECRET_PARAMS else urllib.parse.quote(value, safe="-_.:/"))
        for name, value in pairs
    )
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))
