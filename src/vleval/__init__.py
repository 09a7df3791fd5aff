"""vleval: evaluate the InternVL2.5 family on multimodal benchmarks with the reference protocol."""

__version__ = "0.1.0"
