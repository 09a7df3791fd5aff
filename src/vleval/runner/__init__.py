"""Running evaluations: scheduling, distributed execution, resume, Slurm jobs.

- ``config``: the options schema (argparse, ``RunConfig``, slurm forwarding, run.json) and the run's
  records (``RunConfig``, ``RunPlan``, ``CellResult``, ``RunSummary``).
- ``run``: ``run_evaluation`` (the programmatic ``vleval run``), validation, scoring beside inference,
  dry run.
- ``infer``: one (model, benchmark) as a ``BenchmarkCell`` across ranks: table read once, content keys,
  sharding, durable progress, merge.
- ``progress``: the sample-keyed append-only progress store (what makes any kill resumable).
- ``lock``: one run per model work dir (an OS file lock that dies with its process).
- ``dist``: torchrun / Slurm detection, GPU assignment, the process group.
- ``targets``: models given by name or checkpoint folder; checkpoint digests.
- ``manifest``: ``run.json``.
- ``slurm``: ``vleval slurm`` job scripts and submission; ``commands``: the CLI.
"""
