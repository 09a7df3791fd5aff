"""Multiple-choice scoring: MMBench (circular), MMStar, AI2D, MMMU (with MMMU_preproc).

Sources (open-compass/VLMEvalKit at b13a37db and e8e78f05): ``vlmeval/dataset/image_mcq.py``
(``ImageMCQDataset.evaluate`` / ``evaluate_heuristic``) and ``vlmeval/dataset/utils/multiple_choice.py``
(``extract_answer_from_item``, ``prefetch_circular_group``, ``eval_circular_group``,
``mcq_vanilla_eval``, ``mcq_circular_eval``, ``MMMU_preproc``, ``report_acc``). Differences:
matching rules (see ``matching.py``) and the default judge (hence the result file tag).

Deliberate, documented choices where the reference is not deterministic:
- after 3 failed judge calls the reference draws ``random.choice`` unseeded; vleval seeds one
  generator per row with ``f"{seed}:{index}"`` (the seed is recorded in ``_score.json``);
- ``report_acc`` orders splits as a Python ``set`` does; vleval sorts them.
"""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.datasets.matching import can_infer, cn_string, is_failure_text
from vleval.datasets.scoring import EvalResult, ask_in_rounds, judge_prompt, write_csv, write_xlsx
from vleval.errors import DataCorruptError
from vleval.protocol import Protocol, Quirk
from vleval.types import BenchmarkCard, Judge

LETTERS = tuple(string.ascii_uppercase)
JUDGE_ROUNDS = 3
NO_JUDGE_LOG = "Failed in Prefetch, no GPT-based answer matching under `exact_matching` policy."
RANDOM_LOG = "Failed to predict, thus randomly generate one. "
UNPARSED_LOG = "Failed to predict: neither the rules nor the judge matched an option; counted wrong. "
CIRCULAR_OFFSET = 1_000_000

MMB_ABBRS = {
    "coarse_perception": "CP",
    "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C",
    "logic_reasoning": "LR",
    "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}
# judge short name -> result file tag (image_mcq.py::name_str_map; same at both commits)
RESULT_FILE_TAGS = {"chatgpt-0125": "openai", "gpt-4-0125": "gpt4"}
# reported as another dataset (image_mcq.py::dataset_map)
REPORT_AS = {"MMBench_TEST_EN_V11": "MMBench_V11"}


def is_circular(name: str) -> bool:
    lowered = REPORT_AS.get(name, name).lower()
    return any(key in lowered for key in ("mmbench", "ccbench", "circular", "mmcr"))


def result_file_tag(judge: Judge | None) -> str:
    if judge is None:
        return "exact_matching"
    return RESULT_FILE_TAGS.get(judge.short_name, judge.short_name)


def build_choices(row: dict[str, Any]) -> dict[str, Any]:
    """Option letter -> text for the non-empty A..Z columns of a row."""
    return {c: row[c] for c in LETTERS if c in row and not _isna(row[c])}


def option_str(choices: dict[str, Any]) -> str:
    """smp/vlm.py::build_option_str"""
    return "There are several options: \n" + "".join(f"{c}. {v}\n" for c, v in choices.items())


def build_judge_prompt(question: Any, choices: dict[str, Any], prediction: str) -> str:
    template = judge_prompt("mcq_match_cn.txt" if cn_string(str(question)) else "mcq_match_en.txt")
    return template.format(question, option_str(choices), prediction)


def mmmu_preproc(data: pd.DataFrame) -> pd.DataFrame:
    """Open questions (no option A) become two-option MCQs: A = the answer, B = 'Other Answers'."""
    data = data.copy()
    if "B" not in data.columns:
        data["B"] = np.nan
    a, b = list(data["A"]), list(data["B"])
    for i, (opt_a, ans) in enumerate(zip(a, data["answer"], strict=True)):
        if _isna(opt_a):
            a[i], b[i] = ans, "Other Answers"
    data["A"], data["B"] = a, b
    return data


def extract_options(
    rows: list[dict[str, Any]], protocol: Protocol, judge: Judge | None, seed: int
) -> list[tuple[str, str, str]]:
    """extract_answer_from_item for many rows: (option, match log, how) per row, where ``how`` is
    'rule', 'judge', 'no_judge', 'random' or 'unparsed'. Judge calls go out as one batch per retry round."""
    out: list[tuple[str, str, str] | None] = []
    prompts: dict[int, str] = {}
    choices_of: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        choices = build_choices(row)
        found = can_infer(row["prediction"], choices, protocol)
        if found:
            out.append((found, row["prediction"], "rule"))
        elif judge is None:
            out.append(("Z", NO_JUDGE_LOG, "no_judge"))
        else:
            out.append(None)
            choices_of[i] = choices
            prompts[i] = build_judge_prompt(row.get("question"), choices, row["prediction"])
    if prompts:
        assert judge is not None

        def accept(i: int, answer: str) -> str | None:
            return None if is_failure_text(answer) else can_infer(answer, choices_of[i], protocol)

        answers = ask_in_rounds(
            judge, prompts, rounds=JUDGE_ROUNDS, accept=accept, max_tokens=protocol.judge_max_tokens
        )
        for i, (value, raw) in answers.items():
            if value:
                out[i] = (value, raw[-1], "judge")
            else:
                out[i] = after_judge_failed(choices_of[i], rows[i]["index"], protocol, seed)
    return [o for o in out if o is not None]


def after_judge_failed(
    choices: dict[str, Any], index: Any, protocol: Protocol, seed: int
) -> tuple[str, str, str]:
    """(option, log, how) for a row neither the rules nor the judge's answers could match.

    Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS: a random option or 'Z' (the reference's unseeded draw; vleval
    seeds it per row). Without it (vleval-1): 'Z', i.e. wrong, marked 'unparsed'."""
    if protocol.has(Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS):
        options = list(choices) + ["Z"] if "Z" not in choices else list(choices)
        rng = random.Random(f"{seed}:{index}")
        return rng.choice(options), RANDOM_LOG, "random"
    return "Z", UNPARSED_LOG, "unparsed"


def score(
    data: pd.DataFrame,
    card: BenchmarkCard,
    protocol: Protocol,
    judge: Judge | None,
    *,
    stem: Path,
    seed: int = 0,
) -> EvalResult:
    data = _prepare(data, card)
    tag = result_file_tag(judge)
    if not _has_answers(data):
        return _submission_only(data, card, stem)
    answer_map = dict(zip(data["index"], data["answer"], strict=True))
    if "MMMU" in card.name:
        data = mmmu_preproc(data)
        answer_map = {k: (v if v in LETTERS else "A") for k, v in answer_map.items()}
    data = data[data["index"].isin(answer_map)].copy()
    data["GT"] = [answer_map[i] for i in data["index"]]
    if is_circular(card.name):
        scored, rows = _circular(data, protocol, judge, seed)
    else:
        scored, rows = _vanilla(data, protocol, judge, seed)
    record = stem.parent / f"{stem.name}_{tag}_result.xlsx"
    acc_path = stem.parent / f"{stem.name}_acc.csv"
    write_xlsx(scored, record)
    acc = report_acc(scored)
    write_csv(acc, acc_path)
    headline, headline_name = _headline(acc, card)
    no_judge = int((rows["how"] == "no_judge").sum())
    randoms = int((rows["how"] == "random").sum())
    notes = []
    if no_judge:
        notes.append(
            f"{no_judge} row(s) could not be matched by rule and had no judge: counted as 'Z' (wrong)."
        )
    if randoms:
        notes.append(
            f"{randoms} row(s) got a random option after {JUDGE_ROUNDS} failed judge calls (seed {seed})."
        )
    return EvalResult(
        headline=headline,
        headline_name=headline_name,
        tables={"acc": acc},
        files=[record, acc_path],
        rows=rows,
        notes=notes,
        metrics={
            "rows_without_judge": no_judge,
            "random_after_judge_failures": randoms,
            "result_file_tag": tag,
        },
        seed=seed,
    )


def _prepare(data: pd.DataFrame, card: BenchmarkCard) -> pd.DataFrame:
    data = data.copy()
    data["prediction"] = [str(x) for x in data["prediction"]]
    # lower-case every column name except the option letters (as the reference does)
    data.columns = [c if c in LETTERS else str(c).lower() for c in data.columns]
    if is_circular(card.name):
        try:
            data["index"] = [int(x) for x in data["index"]]
        except (TypeError, ValueError):
            raise DataCorruptError(f"{card.name}: circular evaluation needs integer indices.") from None
    return data.sort_values(by="index", kind="stable").reset_index(drop=True)


def _has_answers(data: pd.DataFrame) -> bool:
    return "answer" in data.columns and not data["answer"].isna().any()


def _submission_only(data: pd.DataFrame, card: BenchmarkCard, stem: Path) -> EvalResult:
    # The reference does not score this split (run.py: 'Can not evaluate ... on non-official
    # servers'); the prediction xlsx itself is what the MMBench server takes.
    pred_xlsx = stem.parent / f"{stem.name}.xlsx"
    files = []
    if not pred_xlsx.exists():
        write_xlsx(data.drop(columns=["GT"], errors="ignore"), pred_xlsx)
        files.append(pred_xlsx)
    note = (
        f"{card.name} has no ground-truth answers: not scored locally (as the reference). Submit {pred_xlsx} "
        f"to the official MMBench evaluation server."
    )
    rows = pd.DataFrame({"index": data["index"], "prediction": data["prediction"]})
    return EvalResult(headline=None, headline_name="submission file", files=files, rows=rows, notes=[note])


def _row_dicts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dict(orient="records")


def _vanilla(data, protocol, judge, seed) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = _row_dicts(data)
    extracted = extract_options(rows, protocol, judge, seed)
    hits = [int(opt == row["GT"]) for (opt, _, _), row in zip(extracted, rows, strict=True)]
    logs = [f"Match Log: {log}. " for _, log, _ in extracted]
    scored = data.drop(columns=["GT"]).copy()
    scored["hit"], scored["log"] = hits, logs
    per_row = pd.DataFrame(
        {
            "index": data["index"],
            "answer": data["GT"],
            "extracted": [o for o, _, _ in extracted],
            "hit": hits,
            "how": [h for _, _, h in extracted],
            "log": logs,
        }
    )
    return scored, per_row


def _circular(data, protocol, judge, seed) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "g_index" not in data.columns:
        data["g_index"] = [int(x % CIRCULAR_OFFSET) for x in data["index"]]
    main = data[data["index"] == data["g_index"]]
    groups = {g: _row_dicts(data[data["g_index"] == g]) for g in main["index"]}
    results: dict[Any, dict[str, Any]] = {}
    pending: dict[Any, list[str | None]] = {}
    prefetched: dict[Any, list[str | None]] = {}
    for g, members in groups.items():
        decided, preds = _prefetch_group(members, protocol)
        prefetched[g] = preds
        if decided is not None:
            results[g] = decided
        else:
            pending[g] = preds
    per_copy: dict[Any, tuple[str, str, str]] = {}
    if pending and judge is None:
        for g in pending:
            results[g] = {"hit": 0, "log": NO_JUDGE_LOG}
    elif pending:
        todo = [m for g, preds in pending.items() for m, p in zip(groups[g], preds, strict=True) if not p]
        for member, extracted in zip(todo, extract_options(todo, protocol, judge, seed), strict=True):
            per_copy[member["index"]] = extracted
        for g, preds in pending.items():
            results[g] = _judge_group(groups[g], preds, per_copy)
    scored = main.drop(columns=["GT"]).copy()
    scored["hit"] = [results[g]["hit"] for g in scored["index"]]
    scored["log"] = [results[g]["log"] for g in scored["index"]]
    return scored, _copy_rows(groups, prefetched, per_copy, results, judge is None)


def _copy_rows(groups, prefetched, per_copy, results, no_judge: bool) -> pd.DataFrame:
    """One line per copy: what was read from it (None: never examined, as the reference stops at the
    first wrong copy) and its question's verdict."""
    records = []
    for g, members in groups.items():
        for k, member in enumerate(members):
            found = prefetched[g][k] if k < len(prefetched[g]) else None
            if found:
                extracted, how = found, "rule"
            elif member["index"] in per_copy:
                extracted, _, how = per_copy[member["index"]]
            else:
                # not readable by rule: with no judge, that is what sank its question
                extracted, how = (
                    None,
                    ("no_judge" if no_judge and results[g]["log"] == NO_JUDGE_LOG else None),
                )
            records.append(
                {
                    "index": member["index"],
                    "g_index": g,
                    "answer": member["GT"],
                    "extracted": extracted,
                    "how": how,
                    "hit": results[g]["hit"],
                    "log": results[g]["log"] if k == 0 else "",
                }
            )
    return pd.DataFrame(records)


def _prefetch_group(members: list[dict[str, Any]], protocol: Protocol):
    """prefetch_circular_group: a wrong letter decides hit=0; all right decides hit=1."""
    preds: list[str | None] = []
    for i, item in enumerate(members):
        pred = can_infer(item["prediction"], build_choices(item), protocol)
        preds.append(pred)
        if pred and item["GT"] != pred:
            log = (
                f"Failed in Prefetching Rolling {i}: Answer is {item['GT']}, "
                f"Prediction is {item['prediction']}, Pre-fetched is {pred}. "
            )
            return {"hit": 0, "log": log}, preds
    if all(item["GT"] == p for item, p in zip(members, preds, strict=True)):
        return {"hit": 1, "log": "Succeed During Pre-fetching"}, preds
    return None, preds


def _judge_group(members, preds, per_copy) -> dict[str, Any]:
    """eval_circular_group after prefetch: the first copy judged wrong decides hit=0."""
    log = ""
    for i, item in enumerate(members):
        if preds[i]:
            log += f"Rolling {i} Matched.\n"
            continue
        opt, match_log, _ = per_copy[item["index"]]
        if opt != item["GT"]:
            log += (
                f"Failed in Rolling {i}: Answer is {item['GT']}; Prediction is {item['prediction']}; "
                f"Pre-fetched is {opt}; Match Log is {match_log}.\n"
            )
            return {"hit": 0, "log": log}
        log += f"Rolling {i}: Answer is {item['GT']}, Prediction is {item['prediction']}, Pre-fetched is {opt}.\n"
    return {"hit": 1, "log": log}


def report_acc(df: pd.DataFrame) -> pd.DataFrame:
    """multiple_choice.py::report_acc: fractions per split, Overall, per l2-category, per category
    (MMBench abilities abbreviated). Splits sorted (the reference's order comes from a set)."""
    df = df.copy()
    if "split" not in df.columns:
        df["split"] = "none"
    splits = sorted(set(df["split"]), key=str)
    res: dict[str, list[Any]] = {"split": splits}
    res["Overall"] = [_mean(df[df["split"] == sp]["hit"]) for sp in splits]
    for group in ("l2-category", "category"):
        if group not in df.columns:
            continue
        for ability in sorted(set(df[group]), key=str):
            sub = df[df[group] == ability]
            res[MMB_ABBRS.get(ability, ability)] = [_mean(sub[sub["split"] == sp]["hit"]) for sp in splits]
    return pd.DataFrame(res)


def _headline(acc: pd.DataFrame, card: BenchmarkCard) -> tuple[float | None, str]:
    if "MMMU" in card.name:
        rows = acc[acc["split"] == "validation"]
        if len(rows):
            return float(rows["Overall"].iloc[0]), "validation Overall (fraction)"
    return float(acc["Overall"].iloc[0]), "Overall (fraction)"


def _mean(values: pd.Series) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def _isna(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
