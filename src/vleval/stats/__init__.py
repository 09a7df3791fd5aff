"""Uncertainty of scores and comparisons of runs: intervals over scoring units (``core``), applying
them to a scored benchmark (``scores``), and ``vleval compare`` (``compare``, ``commands``)."""
