"""Workflows: the commands that combine capabilities over prediction files and work dirs.

``eval`` (score a prediction file), ``diff-protocols``, ``judge-audit``, ``judge-calibrate``, ``compare``
(reading the two runs; its statistics are ``vleval.stats.compare``), the judge bill of ``run --dry-run``
and the demo live here, one layer above the capabilities (``datasets``,
``judge``, ``models``, ``stats``). Capabilities never import this package; a workflow may import any of
them (``tests/test_layers.py`` checks the direction).
"""
