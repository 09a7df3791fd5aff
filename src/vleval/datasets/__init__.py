"""Benchmark registry, TSV loading and download, and one scorer module per benchmark family."""
