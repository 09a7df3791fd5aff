"""LLaVA-Bench (in-the-wild): the judge scores the model's answer against GPT-4's.

Sources (open-compass/VLMEvalKit): ``vlmeval/dataset/utils/llavabench.py`` (``rule_dict``,
``build_prompt``, ``parse_score``, ``LLaVABench_score``; same at b13a37db and e8e78f05, where the
module's import is broken: see benchmarks.md §12) and ``vlmeval/dataset/image_vqa.py::LLaVABench.evaluate``
(judge temperature 0.2 with a system prompt, one call per row, no retry on a bad answer). Files:
``{stem}_openai_result.xlsx`` and ``{stem}_score.csv`` (rounded to 1 decimal). Category rows after
``overall`` are sorted (the reference iterates a set).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vleval.datasets.matching import is_failure_text
from vleval.datasets.scoring import judge_prompt
from vleval.families.base import (
    OPENXLAB,
    BenchmarkFamily,
    JudgeRole,
    ReferenceOutput,
    Scored,
    number,
    plain_index,
    read_csv_rows,
    reference_record,
)
from vleval.protocol import Protocol, Quirk
from vleval.stats.metrics import RatioOfMeans, ratio_of_means
from vleval.synthetic.rows import shape_image
from vleval.types import (
    BenchmarkCard,
    DecidedBy,
    Judge,
    JudgeProfile,
    JudgeRequest,
    PromptStyle,
    RowResult,
    ScoreRecord,
)

JUDGE_TEMPERATURE = 0.2
UNPARSABLE = (-1.0, -1.0)


def build_judge_prompt(row: dict[str, Any]) -> str:
    role, rule = "Assistant", judge_prompt("llavabench_rule.txt")
    return (
        f"[Context]\n{row['caption']}\n\n"
        f"[Question]\n{row['question']}\n\n"
        f"[{role} 1]\n{row['gpt4_ans']}\n\n[End of {role} 1]\n\n"
        f"[{role} 2]\n{row['prediction']}\n\n[End of {role} 2]\n\n"
        f"[System]\n{rule}\n\n"
    )


def parse_score(review: str) -> tuple[float, float] | None:
    """First line, commas as spaces, exactly two space-separated numbers: (gpt4 score, model score)."""
    fields = review.split("\n")[0].replace(",", " ").split(" ")
    if len(fields) != 2:
        return None
    try:
        return float(fields[0]), float(fields[1])
    except ValueError:
        return None


def llavabench_score(data: pd.DataFrame) -> pd.DataFrame:
    splits = ["overall", *sorted(set(data["category"]), key=str)]
    out: dict[str, list[Any]] = {"split": [], "Relative Score (main)": [], "VLM Score": [], "GPT4 Score": []}
    for split in splits:
        sub = data if split == "overall" else data[data["category"] == split]
        mean_score, mean_gpt4 = float(np.mean(sub["score"])), float(np.mean(sub["gpt4_score"]))
        out["split"].append(split)
        out["Relative Score (main)"].append(ratio_of_means(sub["score"], sub["gpt4_score"]))
        out["VLM Score"].append(mean_score * 10)
        out["GPT4 Score"].append(mean_gpt4 * 10)
    return pd.DataFrame(out).round(1)


COLUMN = "Relative Score (main)"


# The benchmarks of this family as the reference registers them: URL and md5 at e8e78f05 (the newest
# pinned protocol; ``md5_by_protocol`` holds an older protocol's where it differs), from ``vlmeval/dataset/image_vqa.py``;
# ``prompt``: how the InternVL wrapper words them (VK vlmeval/vlm/internvl/internvl_chat.py::build_prompt).
CARDS: tuple[BenchmarkCard, ...] = (
    BenchmarkCard(
        name="LLaVABench",
        url=f"{OPENXLAB}/VLMEval/LLaVABench.tsv",
        md5="d382a093f749a697820d3dadd61c8428",
        task_type="VQA",
        family="llavabench",
        required_columns=("index", "question", "image", "caption", "gpt4_ans", "category"),
        description="LLaVA-Bench in-the-wild: relative score against GPT-4 answers.",
        prompt=PromptStyle(vqa="detail", mpo_keeps_prompt=True),
    ),
)


class LLaVABenchFamily(BenchmarkFamily):
    name = "llavabench"
    listing_order = 60
    judge_role = JudgeRole.OPEN
    scale = (
        "relative score, percent of the GPT-4 answer's score, which exceeds 100 when the model's answers "
        "are graded higher"
    )
    judge_required = True
    headline_name = "overall Relative Score (main)"
    headline_unit = (
        "percent of the GPT-4 answer's score, 1 decimal (the reference's table); above 100 when the "
        "model's answers are graded higher than GPT-4's"
    )
    required_columns = ("index", "prediction", "question", "caption", "gpt4_ans", "category")

    # the overall Relative Score: mean model grade over mean grade of the GPT-4 answer (each row's
    # extra["gpt4_score"]) x 100, 1 decimal; the judge grades 1-10
    metric = RatioOfMeans(reference="gpt4_score", best_row_score=10.0, decimals=1)

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        return ["_openai_result.xlsx", "_score.csv"]

    def decision_text(self, row: RowResult) -> str:
        """The judge's two scores (GPT-4's answer's, then the model's), where nothing was extracted."""
        if (
            row.decided_by in ("failed", "skipped")
            or row.extracted is not None
            or "gpt4_score" not in row.extra
        ):
            return super().decision_text(row)
        return f"{row.extra.get('gpt4_score')} {row.score}"

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        assert judge is not None  # judge_required: scoring.score_frame checks
        data = data.copy()
        system = judge_prompt("llavabench_system.txt")
        requests = [
            JudgeRequest(
                prompt=build_judge_prompt(row), system=system, temperature=JUDGE_TEMPERATURE,
                max_tokens=protocol.judge_max_tokens,
            )
            for row in data.to_dict(orient="records")
        ]  # fmt: skip
        reviews = judge.ask_many(requests)
        parsed = [parse_score(r) for r in reviews]
        unparsable = sum(1 for p in parsed if p is None)
        keep_minus_one = protocol.has(Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE)
        pairs = [p if p is not None else UNPARSABLE for p in parsed]
        data["gpt4_score"] = [p[0] for p in pairs]
        data["score"] = [p[1] for p in pairs]
        scored = data if keep_minus_one else data[[p is not None for p in parsed]]
        table = llavabench_score(scored)
        notes = []
        if unparsable:
            how = "scored [-1, -1] and averaged in, as the reference" if keep_minus_one else "left out"
            notes.append(f"{unparsable} judge review(s) had no 'score score' first line: {how}.")
        rows = []
        for record, review, found in zip(data.to_dict(orient="records"), reviews, parsed, strict=True):
            decided: DecidedBy = "judge"
            if found is None:
                decided = (
                    "failed" if is_failure_text(review) else "fallback" if keep_minus_one else "unparsed"
                )
            counted = found is not None or keep_minus_one
            rows.append(
                RowResult(
                    index=plain_index(record["index"]),
                    unit=str(record["index"]),
                    score=float(record["score"]) if counted else None,
                    decided_by=decided,
                    answer=record["gpt4_ans"],
                    prediction=str(record["prediction"]),
                    category=str(record["category"]),
                    judge_log=[review],
                    extra={"gpt4_score": float(record["gpt4_score"]) if counted else None},
                )
            )
        overall = float(table.iloc[0][COLUMN])
        return Scored(
            outputs=[ReferenceOutput("_openai_result.xlsx", data), ReferenceOutput("_score.csv", table)],
            rows=rows,
            headline=overall,
            headline_name=self.headline_name,
            tables={"score": table},
            native={COLUMN: overall},
            metrics={
                COLUMN: overall,
                "VLM Score": float(table.iloc[0]["VLM Score"]),
                "GPT4 Score": float(table.iloc[0]["GPT4 Score"]),
            },
            categories=_categories(table),
            notes=notes,
        )

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        path = stem.with_name(stem.name + "_score.csv")
        rows = read_csv_rows(path, "split")
        if not rows or "overall" not in rows or COLUMN not in rows["overall"]:
            return None
        overall = number(rows["overall"][COLUMN])
        return reference_record(
            self,
            stem,
            path,
            headline=overall,
            headline_name=self.headline_name,
            native={COLUMN: overall} if overall is not None else {},
            categories=_categories(pd.DataFrame(list(rows.values()))),
            judge_model=judge_model,
        )

    # --- the judge's profile, synthetic data and stand-in judge
    # every row is reviewed once (no retry); ~120 tokens: two scores and an explanation
    judge_profile = JudgeProfile(
        templates=("llavabench_system.txt", "llavabench_rule.txt"), answer_tokens=120, every_row=True
    )

    def right_answer(self, card: BenchmarkCard, row: dict[str, Any]) -> str:
        """GPT-4's own answer, the reference answer the judge compares with."""
        return str(row["gpt4_ans"])

    def stand_in_judge(self, prompt: str) -> str | None:
        """The same two scores for every review (8 for GPT-4's answer, 6 for the model's)."""
        return "8 6" if "[Assistant 1]" in prompt else None


FAMILY = LLaVABenchFamily()


def _categories(table: pd.DataFrame) -> dict[str, float]:
    return {
        str(name): value
        for name, v in zip(table["split"], table[COLUMN], strict=True)
        if str(name) != "overall" and (value := number(v)) is not None
    }


# --------------------------------------------------------------------------------------------------
# synthetic rows (vleval.synthetic.benchmarks)
# --------------------------------------------------------------------------------------------------
def _synthetic_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    """Shapes with a caption and a GPT-4 answer describing them; the three categories in turn."""
    rows = []
    for i in range(n):
        image, drawn = shape_image(rng, i)
        description = ", ".join(f"a {c} {s}" for c, s in drawn)
        category = ("conv", "detail", "complex")[i % 3]
        question = {
            "conv": "What is the colour of the first shape?",
            "detail": "Describe the image in detail.",
            "complex": "What could these shapes be used to teach?\nAnswer in two sentences.",
        }[category]
        rows.append(
            {
                "index": i,
                "question": question,
                "image": image,
                "caption": f"A white canvas with {description}.",
                "gpt4_ans": f"The image shows {description} on a white background.",
                "category": category,
            }
        )
    return rows


# a card of this family without a builder here is refused, rather than given another benchmark's rows
SYNTHETIC: dict[str, Callable[[random.Random, int], list[dict[str, Any]]]] = {"LLaVABench": _synthetic_rows}
