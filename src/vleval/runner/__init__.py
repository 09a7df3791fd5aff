"""Running evaluations: scheduling, distributed execution, resume, Slurm jobs.

- ``run``: ``RunConfig`` and ``run_evaluation`` (the programmatic ``vleval run``), validation, dry run.
- ``infer``: one (model, benchmark) across ranks: keying, sharding, durable progress, merge.
- ``progress``: the sample-keyed append-only progress store (what makes any kill resumable).
- ``dist``: torchrun / Slurm detection, GPU assignment, the process group.
- ``targets``: models given by name or checkpoint folder; checksums.
- ``manifest``: ``run.json``.
- ``slurm``: ``vleval slurm`` job scripts and submission; ``commands``: the CLI.
"""
