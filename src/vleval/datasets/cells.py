"""Cell values as pandas reads them: the one missing-value test and the reference's xlsx round trip."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

# pandas' default NA spellings: a cell holding one of these reads back as NaN
PANDAS_NA = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
     "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # fmt: skip


def isna(value: Any) -> bool:
    """None, NaN or pandas NA (a string, even 'nan', is never missing here)."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def xlsx_round_trip(value: Any) -> Any:
    """What a cell value reads back as after the reference's xlsx dump + pandas load: empty strings and
    pandas' default NA spellings ('nan', 'None', 'N/A', ...) become NaN."""
    if isinstance(value, str) and value in PANDAS_NA:
        return float("nan")
    return value


def cell_text(value: Any) -> str:
    """A cell as the report and the row records show it: '' for a missing one, a whole float without
    its '.0' (pandas reads an xlsx integer column with a blank as floats)."""
    if isna(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
