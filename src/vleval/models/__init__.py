"""InternVL2.5 model cards, inputs (tiling, prompts, template), modeling and backends."""
