"""Reading a prediction xlsx of real size: what ``read_prediction_file`` costs, and the price of the
second read it makes only where pandas turned a prediction cell into NaN or a number.

    python bench/prediction_read.py                 # MMBench_DEV_EN_V11 size: 4,876 rows
    python bench/prediction_read.py --rows 20000 --repeat 5

``read_prediction_file`` needs two readings of the ``prediction`` column: the reference's
(``pd.read_excel`` defaults: an empty cell and words such as 'None' or 'NA' are NaN, a column of
numbers is numbers) and the cells as written. pandas gives both from one parse only through its
private parser (``pandas.io.parsers.TextParser`` over the cell grid), so the file is read once where
the default reading kept every cell as text (the cells are then those texts) and the column is read
again otherwise. The file is written by vleval's own writer (``write_prediction_file``) from an
MMBench-like table (question, hint, four options, answer, categories); each line: the median seconds
of ``--repeat`` runs of

- ``pd.read_excel``: one default read of the whole file (what the reference does);
- ``text column``: the second read, the ``prediction`` column as text;
- ``read_prediction_file, text``: every prediction is text (one read);
- ``read_prediction_file, 1% empty``: 1% of the predictions are empty (two reads).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path


def _table(rows: int, seed: int):
    import pandas as pd

    rng = random.Random(seed)
    words = "the of a cat dog image shows which option best describes color left right above".split()

    def sentence(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    return pd.DataFrame(
        {
            "index": range(rows),
            "question": [sentence(rng.randint(8, 30)) + "?" for _ in range(rows)],
            "hint": [sentence(rng.randint(0, 40)) or float("nan") for _ in range(rows)],
            **{option: [sentence(rng.randint(1, 6)) for _ in range(rows)] for option in "ABCD"},
            "answer": [rng.choice("ABCD") for _ in range(rows)],
            "category": [rng.choice(["ocr", "scene", "counting"]) for _ in range(rows)],
            "l2-category": [rng.choice(["perception", "reasoning"]) for _ in range(rows)],
            "split": ["dev"] * rows,
        }
    )


def _timed(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4876)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import pandas as pd

    from vleval.datasets.predictions import read_prediction_file, write_prediction_file

    table = _table(args.rows, seed=0)
    rng = random.Random(1)
    text = {i: f"{rng.choice('ABCD')}. {rng.choice(['cat', 'dog', 'tree'])}" for i in table["index"]}
    some_empty = {i: ("" if i % 100 == 0 else value) for i, value in text.items()}
    with tempfile.TemporaryDirectory() as tmp:
        plain = write_prediction_file(Path(tmp) / "M_MMBench_DEV_EN_V11.xlsx", table, text)
        empty = write_prediction_file(Path(tmp) / "E_MMBench_DEV_EN_V11.xlsx", table, some_empty)
        lines = {
            "pd.read_excel": lambda: pd.read_excel(plain),
            "text column": lambda: pd.read_excel(plain, usecols=["prediction"], dtype=str, keep_default_na=False),
            "read_prediction_file, text": lambda: read_prediction_file(plain, table),
            "read_prediction_file, 1% empty": lambda: read_prediction_file(empty, table),
        }
        print(f"prediction xlsx of {args.rows:,} rows ({plain.stat().st_size / 1e6:.1f} MB), median of "
              f"{args.repeat}; Python {platform.python_version()}, pandas {pd.__version__}")  # fmt: skip
        for name, call in lines.items():
            print(f"  {name:<32} {_timed(call, args.repeat):7.3f} s")


if __name__ == "__main__":
    main()
