"""Benchmark families: each module here declares one ``FAMILY`` (``vleval.families.base.BenchmarkFamily``)
and owns all that is true of its benchmarks. Modules are discovered (``base.family_modules``): adding a
family is adding a module."""
