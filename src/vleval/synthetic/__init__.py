"""One factory for test data: tiny checkpoints, tokenizers and benchmark TSVs (tests, demo, bench)."""
