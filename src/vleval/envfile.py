"""API keys from a ``.env`` file, as VLMEvalKit reads its own ``.env`` (``vlmeval/smp/misc.py``
``load_env``, with python-dotenv).

Which file: ``.env`` in the current directory (where the command is run; VLMEvalKit reads the one in
its source tree, which an installed vleval does not have). Every ``NAME=value`` with a non-empty
value is put into the process environment unless the environment already sets ``NAME``: a key
exported in the shell wins over the file (VLMEvalKit lets the file win). The file is only read:
vleval never writes a key anywhere (run.json, the judge cache, Slurm scripts and logs hold no key),
and it prints the names it read, never the values. A file larger than ``MAX_ENV_FILE_BYTES`` is
refused (a key file is small; this bounds the read).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from vleval.errors import VlevalError

ENV_FILE = ".env"
MAX_ENV_FILE_BYTES = 64 * 1024


def load_env_file(path: Path | str = ENV_FILE, environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set the variables of ``path`` that ``environ`` (default ``os.environ``) lacks; returns their
    names. No file: nothing, no error."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    if not path.is_file():
        return []
    size = path.stat().st_size
    if size > MAX_ENV_FILE_BYTES:
        raise VlevalError(
            f"{path.resolve()}: {size} bytes; vleval reads API keys from a .env file of at most "
            f"{MAX_ENV_FILE_BYTES // 1024} KiB. Is this the right file? Move it, or run from another folder."
        )
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path, interpolate=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VlevalError(
            f"{path.resolve()}: cannot be read as a .env file ({type(exc).__name__})."
        ) from None
    loaded = []
    for name, value in values.items():
        if value and name not in environ:
            environ[name] = value
            loaded.append(name)
    return loaded
