"""OpenAI-compatible judge client with concurrency, retries and an on-disk cache."""
