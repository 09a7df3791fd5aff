"""Uncertainty of scores and comparisons of runs: intervals over scoring units (``core``), the named
metrics benchmark families pick (``metrics``), applying them to a scored benchmark (``scores``), and
``vleval compare`` (``compare``, ``commands``)."""
