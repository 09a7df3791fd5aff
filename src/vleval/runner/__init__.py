"""Running evaluations: scheduling, distributed execution, resume, Slurm jobs."""
