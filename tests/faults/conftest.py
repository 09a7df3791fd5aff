"""The fault corpus (issue 19): hostile inputs and misbehaving servers, each with its expected outcome."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # the corpus' helper modules (--import-mode=importlib)
