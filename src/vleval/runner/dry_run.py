"""``vleval run --dry-run``: what a run would do, and what it would cost, without loading a model."""

from __future__ import annotations

from vleval.errors import VlevalError
from vleval.protocol import Protocol
from vleval.runner.config import RunConfig, RunPlan
from vleval.runner.progress import load_progress
from vleval.types import BenchmarkCard


def dry_run_report(config: RunConfig, plan: RunPlan, warnings: list[str]) -> str:
    """What ``vleval run --dry-run`` prints: per model and benchmark the samples and the progress so far,
    the time bill (``vleval.cost``), the judge bill (``vleval.workflows.bill``), ``warnings`` (the run's
    preflight lines) and what is missing."""
    from vleval.datasets.loading import load_table

    lines = [
        f"vleval run --dry-run: {len(plan.models)} model(s) x {len(plan.datasets)} benchmark(s), "
        f"protocol {plan.protocol.name}, mode {config.mode}, CoT {'on' if config.cot else 'off'}, "
        f"work dir {config.work_dir}"
    ]
    if config.limit is not None:
        lines.append(
            f"--limit {config.limit}: the first {config.limit} question(s) of each benchmark; the scores will "
            "be marked 'subset of N/M' and are not comparable to published figures"
        )
    if config.seeds > 1:
        from vleval.runner.seeds import seeds_dry_run_line

        lines.append(seeds_dry_run_line(config.seeds))
    counts: dict[str, str] = {}
    for card in plan.datasets:
        if card.name not in plan.tsv:
            counts[card.name] = _file_problem(card, plan.protocol, config)
            continue
        try:
            counts[card.name] = _sample_count(card, plan.protocol, config)
        except VlevalError as exc:
            counts[card.name] = f"unreadable ({exc})"
    for target in plan.models:
        lines.append(f"{target.name} ({target.path})")
        for card in plan.datasets:
            pred = plan.pred_file(config.work_dir, target, card)
            state = load_progress(plan.progress_dir(config.work_dir, target, card))
            done = sum(1 for r in state.records.values() if r.ok)
            failed = sum(1 for r in state.records.values() if not r.ok)
            if pred.is_file():
                status = "predictions done" + (f" ({failed} failed, to retry)" if failed else "")
            elif done or failed:
                status = f"in progress: {done} finished, {failed} failed"
            else:
                status = "not started"
            lines.append(f"  {card.name:<22} {counts[card.name]:<16} {status}")
        present = [card for card in plan.datasets if card.name in plan.tsv]
        if config.mode != "eval" and present:  # prompt tokens, FLOPs, estimated time (vleval.cost)
            from vleval.cost import time_bill

            lines.extend(
                time_bill(model_path=target.path, model_card=target.card, cards=present, protocol=plan.protocol,
                          data_dir=config.data_dir, cot=config.cot, max_new_tokens=config.max_new_tokens,
                          device=config.device, limit=config.limit)
            )  # fmt: skip
    if config.mode != "infer":  # judge calls, tokens and the judge model, per benchmark (workflows.bill)
        from vleval.workflows.bill import dry_run_bill

        present = [card for card in plan.datasets if card.name in plan.tsv]
        absent = {card.name: counts[card.name] for card in plan.datasets if card.name not in plan.tsv}
        lines.extend(
            dry_run_bill(present, plan.protocol, config.judge, len(plan.models),
                         lambda card: load_table(card, plan.protocol, config.data_dir, verify_md5=False,
                                                 limit=config.limit), unavailable=absent)
        )  # fmt: skip
    if warnings:
        lines.append("numbers that will not be what their names say:")
        lines.extend(f"  - {w}" for w in warnings)
    if plan.problems:
        lines.append("missing (fetch or fix before running; the run would stop here):")
        lines.extend(f"  - {p}" for p in plan.problems)
    else:
        lines.append("everything needed is present.")
    return "\n".join(lines)


def _file_problem(card: BenchmarkCard, protocol: Protocol, config: RunConfig) -> str:
    """Why a benchmark's file cannot be used, in a word or two: absent, or there with another md5."""
    from vleval.datasets.files import file_state

    try:
        state = file_state(card, protocol, config.data_dir).state
    except (VlevalError, OSError):
        return "data missing"
    return "md5 mismatch" if state == "md5_mismatch" else "data missing"


def _sample_count(card: BenchmarkCard, protocol: Protocol, config: RunConfig) -> str:
    """``1000 samples``, or under ``--limit`` ``40 of 1000 samples (20/500 questions)``."""
    from vleval.datasets.loading import load_table
    from vleval.datasets.subset import limit_table

    table = load_table(card, protocol, config.data_dir, verify_md5=False)
    _, subset = limit_table(table, card, protocol, config.limit)
    if subset is None:
        return f"{len(table)} samples"
    return f"{subset.rows} of {subset.of_rows} samples ({subset.questions}/{subset.of_questions} questions)"
