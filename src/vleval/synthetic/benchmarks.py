"""Synthetic benchmark TSVs in the reference format, for the registered benchmarks.

One factory for tests, ``vleval demo`` and benches: ``make_benchmark_tsv(name, root, n, seed)`` writes
``{root}/{name}.tsv`` with the columns the reference reads for that benchmark (docs/
benchmark-protocol.md), PIL-drawn images of varied size and mode (tiny, wide, tall; RGB/RGBA/P/LA; PNG and
JPEG) and rows that point at another row's image by index. Same (name, n, seed) -> same bytes.

``n`` is the number of distinct questions: MMBench writes one row per option rotation of each
question (indices offset by 1,000,000 per rotation), CRPE writes 4 rows per question.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.errors import VlevalError
from vleval.families.mcq import MMT_ABBRS
from vleval.families.ocrbench import CATEGORIES as OCRBENCH_CATEGORIES
from vleval.families.yorn import MME_SUPER_CATEGORIES
from vleval.protocol import Protocol
from vleval.synthetic.images import (
    COLOURS,
    SIZES,
    draw_bar_chart,
    draw_shapes,
    draw_text,
    encode,
    with_mode,
)

NAN = math.nan
Row = dict[str, Any]
LETTERS = "ABCDEFGHIJ"
CIRCULAR_OFFSET = 1_000_000


# --------------------------------------------------------------------------------------------------
# images: size, mode and encoding vary with the row number so every file exercises them all
# --------------------------------------------------------------------------------------------------
def _shape_image(rng: random.Random, row: int, count: int = 3) -> tuple[str, list[tuple[str, str]]]:
    image, drawn = draw_shapes(rng, SIZES[row % len(SIZES)], count)
    return _encode_varied(image, row), drawn


def _encode_varied(image, row: int) -> str:
    if row % 7 == 3:
        return encode(with_mode(image, "RGBA"), "PNG")
    if row % 7 == 5:
        return encode(with_mode(image, "P"), "PNG")
    if row % 11 == 4:
        return encode(with_mode(image, "LA"), "PNG")
    return encode(image, "JPEG" if row % 2 == 0 else "PNG")


def _shared_or_new(rng: random.Random, i: int, previous: tuple[str, list] | None) -> tuple[str, list, bool]:
    """Every fifth row reuses the previous row's image by naming its index (the reference's
    space saving); returns (image cell, shapes drawn, whether it is a reference)."""
    if i % 5 == 4 and previous is not None:
        return str(i - 1), previous[1], True
    image, drawn = _shape_image(rng, i)
    return image, drawn, False


def _colour_question(
    rng: random.Random, drawn: list[tuple[str, str]], n_options: int
) -> tuple[str, list[str], int]:
    """'What colour is the first shape?' with ``n_options`` colour names; returns (q, options, answer pos)."""
    colour, shape = drawn[0]
    wrong = [c for c in COLOURS if c != colour]
    rng.shuffle(wrong)
    options = [colour, *wrong[: n_options - 1]]
    rng.shuffle(options)
    return f"What colour is the first {shape} drawn in the image?", options, options.index(colour)


def _pad_options(options: list[str], width: int) -> dict[str, Any]:
    return {LETTERS[i]: (options[i] if i < len(options) else NAN) for i in range(width)}


# --------------------------------------------------------------------------------------------------
# one builder per benchmark: (rng, n) -> rows (dicts in column order)
# --------------------------------------------------------------------------------------------------
_MMBENCH_ABILITIES = (
    ("coarse_perception", "image_scene"),
    ("finegrained_perception (instance-level)", "object_localization"),
    ("finegrained_perception (cross-instance)", "spatial_relationship"),
    ("logic_reasoning", "structuralized_imagetext_understanding"),
    ("relation_reasoning", "social_relation"),
    ("attribute_reasoning", "physical_property_reasoning"),
)


def _mmbench(rng: random.Random, n: int, with_answers: bool, split: str) -> list[Row]:
    mains, copies = [], []
    for i in range(n):
        image, drawn = _shape_image(rng, i)
        n_options = (4, 2, 3, 4)[i % 4]
        question, options, answer = _colour_question(rng, drawn, n_options)
        l2, category = _MMBENCH_ABILITIES[i % len(_MMBENCH_ABILITIES)]
        hint = NAN if i % 2 == 0 else f"The image shows {len(drawn)} shapes on a white background."
        for rotation in range(n_options):
            rotated = options[rotation:] + options[:rotation]
            row: Row = {"index": i + rotation * CIRCULAR_OFFSET, "question": question, "hint": hint}
            row.update(_pad_options(rotated, 4))
            if with_answers:
                row["answer"] = LETTERS[(answer - rotation) % n_options]
            row.update(
                {
                    "category": category,
                    "l2-category": l2,
                    "split": split,
                    "source": "synthetic",
                    # copies share the main row's image by naming its index, as the real files do
                    "image": image if rotation == 0 else str(i),
                }
            )
            (mains if rotation == 0 else copies).append(row)
    return mains + copies


_MMSTAR_CATEGORIES = (
    ("coarse perception", "image scene and topic"),
    ("fine-grained perception", "attribute recognition"),
    ("instance reasoning", "single-instance reasoning"),
    ("logical reasoning", "diagram reasoning"),
    ("math", "numeric commonsense and calculation"),
    ("science & technology", "natural science"),
)


def _mmstar(rng: random.Random, n: int) -> list[Row]:
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = _shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        question, options, answer = _colour_question(rng, drawn, 4)
        listed = ", ".join(f"{LETTERS[k]}: {text}" for k, text in enumerate(options))
        category, l2 = _MMSTAR_CATEGORIES[i % len(_MMSTAR_CATEGORIES)]
        row: Row = {"index": i, "question": f"{question}\nOptions: {listed}"}
        row.update(_pad_options(options, 4))
        row.update({"answer": LETTERS[answer], "category": category, "l2-category": l2, "bench": "synthetic"})
        row["image"] = image
        rows.append(row)
    return rows


def _ai2d(rng: random.Random, n: int) -> list[Row]:
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = _shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        question, options, answer = _colour_question(rng, drawn, (4, 3, 2)[i % 3])
        row: Row = {"index": i, "question": question}
        row.update(_pad_options(options, 4))
        row.update({"answer": LETTERS[answer], "image": image})
        rows.append(row)
    return rows


_MMMU_SUBJECTS = (
    ("Art", "Art & Design"),
    ("Accounting", "Business"),
    ("Physics", "Science"),
    ("Math", "Science"),
)


def _mmmu(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for i in range(n):
        split = "dev" if i % 3 == 0 else "validation"
        subject, discipline = _MMMU_SUBJECTS[i % len(_MMMU_SUBJECTS)]
        item_id = f"{split}_{subject}_{i + 1}"
        n_images = {1: 2, 3: 3}.get(i % 4, 1)
        images, drawn_all = [], []
        for k in range(n_images):
            image, drawn = _shape_image(rng, i + 2 * k)
            images.append(image)
            drawn_all.append(drawn)
        markers = " ".join(f"<image {k + 1}>" for k in range(n_images))
        row: Row = {"index": i + 1}
        if i % 5 == 2:  # open question: no options at all
            count = sum(len(d) for d in drawn_all)
            row["question"] = f"How many shapes are drawn in {markers} in total?"
            row.update(_pad_options([], 5))
            row["answer"] = str(count)
        else:
            question, options, answer = _colour_question(rng, drawn_all[0], 3 + i % 3)
            row["question"] = question.replace("in the image", "in <image 1>") + (
                f" (See also {markers}.)" if n_images > 1 else ""
            )
            row.update(_pad_options(options, 5))
            row["answer"] = LETTERS[answer]
        names = [f"{item_id}_{k + 1}.png" for k in range(n_images)]
        row.update(
            {
                "category": subject,
                "l2-category": discipline,
                "split": split,
                "id": item_id,
                "image": str(images) if n_images > 1 else images[0],
                "image_path": str(names) if n_images > 1 else names[0],
            }
        )
        rows.append(row)
    return rows


_MATHVISTA_TASKS = (
    "figure question answering",
    "math word problem",
    "geometry problem solving",
    "textbook question answering",
    "visual question answering",
)


def _mathvista(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for i in range(n):
        values = [rng.randint(1, 20) for _ in range(3 + i % 3)]
        size = SIZES[1:][i % (len(SIZES) - 1)]
        image = _encode_varied(draw_bar_chart(values, size), i)
        kind = i % 4
        row: Row = {"index": i + 1}
        if kind == 0:
            choices = [str(max(values)), str(min(values)), str(sum(values)), str(values[0] + 100)]
            row.update(
                question="Which value is the tallest bar?\nChoices:\n"
                + "\n".join(f"({LETTERS[k]}) {c}" for k, c in enumerate(choices)),
                answer=choices[0],
                choices=str(choices),
                unit=NAN,
                precision=NAN,
                question_type="multi_choice",
                answer_type="text",
                answer_option="A",
            )
        elif kind == 1:
            row.update(
                question="What is the sum of all bars?",
                answer=str(sum(values)),
                choices=NAN,
                unit=NAN,
                precision=NAN,
                question_type="free_form",
                answer_type="integer",
                answer_option=NAN,
            )
        elif kind == 2:
            row.update(
                question="What is the mean bar value? Answer with one decimal place.",
                answer=f"{sum(values) / len(values):.1f}",
                choices=NAN,
                unit=NAN,
                precision=1.0,
                question_type="free_form",
                answer_type="float",
                answer_option=NAN,
            )
        else:
            row.update(
                question="List the two leftmost bar values.",
                answer=str(values[:2]),
                choices=NAN,
                unit=NAN,
                precision=NAN,
                question_type="free_form",
                answer_type="list",
                answer_option=NAN,
            )
        skills = ["statistical reasoning", "arithmetic reasoning"][: 1 + i % 2]
        row.update(task=_MATHVISTA_TASKS[i % len(_MATHVISTA_TASKS)], skills=str(skills), image=image)
        rows.append(row)
    return rows


_HALLUSION_L2 = ("chart", "table", "map", "ocr", "figure", "math", "illusion")


def _hallusionbench(rng: random.Random, n: int) -> list[Row]:
    """Sets of 2 figures x 2 questions; a figure's second question names the first one's image."""
    rows = []
    first_of_figure: dict[tuple[int, int], tuple[str, str]] = {}  # (set, figure) -> (index, colour)
    for i in range(n):
        set_id, figure_id, question_id = i // 4, (i // 2) % 2, i % 2
        category = "VS" if set_id % 2 == 0 else "VD"
        l2 = _HALLUSION_L2[set_id % len(_HALLUSION_L2)]
        index = f"{category}_{l2}_{set_id}_{set_id}_{figure_id}_{question_id}"
        key = (set_id, figure_id)
        if key in first_of_figure:
            image, drawn_colour = first_of_figure[key]
        else:
            image, drawn = _shape_image(rng, i, count=1)
            drawn_colour = drawn[0][0]
            first_of_figure[key] = (index, drawn_colour)
        asked = (
            drawn_colour if (i + set_id) % 2 == 0 else rng.choice([c for c in COLOURS if c != drawn_colour])
        )
        answer = "Yes" if asked == drawn_colour else "No"
        rows.append(
            {
                "index": index,
                "question": f"Is there a {asked} shape in the image?",
                "answer": answer,
                "category": category,
                "l2-category": l2,
                "image": image,
            }
        )
    # a question without a figure: the reference drops rows whose image is empty
    rows.append(
        {
            "index": f"VS_{_HALLUSION_L2[0]}_{n}_{n}_0_0",
            "question": "Is the Eiffel Tower in Paris?",
            "answer": "Yes",
            "category": "VS",
            "l2-category": _HALLUSION_L2[0],
            "image": NAN,
        }
    )
    return rows


_WORDS = ("hello", "vision", "Tiling", "OCR", "benchmark", "InternVL", "pixel", "token")


def _ocrbench(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for i in range(n):
        category = OCRBENCH_CATEGORIES[i % len(OCRBENCH_CATEGORIES)]
        if category == "Digit String Recognition":
            text = str(rng.randint(10_000, 99_999_999))
            answers, question = [text], "what is the number in the image?"
        elif category == "Handwritten Mathematical Expression Recognition":
            a, b = rng.randint(1, 9), rng.randint(2, 5)
            text = f"x^{b} + {a}"
            answers, question = (
                [f"x ^ {{ {b} }} + {a}"],
                "Please write out the expression of the formula in the image using LaTeX format.",
            )
        elif category == "Key Information Extraction":
            total = f"{rng.randint(1, 99)}.{rng.randint(10, 99)}"
            text = f"TOTAL {total}"
            answers, question = [total], "what is the total amount?"
        else:
            word = rng.choice(_WORDS)
            text = word
            answers = [word, word.upper()] if i % 3 == 0 else [word]
            question = "what is written in the image?"
        size = ((320, 80), (896, 120), (120, 400), (24, 18))[i % 4]
        image = _encode_varied(draw_text(text, size, font_size=28 if size[0] > 100 else 8), i)
        rows.append(
            {
                "index": i,
                "image": str(i - 1) if i % 6 == 5 and rows else image,
                "question": question,
                "answer": str(answers),
                "category": category,
                "dataset": "synthetic",
            }
        )
        if rows[-1]["image"] != image:  # a shared image keeps the earlier row's text as the truth
            rows[-1]["answer"] = rows[-2]["answer"]
            rows[-1]["question"] = rows[-2]["question"]
    return rows


_MMVET_CAPABILITIES = ("rec", "ocr", "know", "gen", "spat", "math")


def _mmvet(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for i in range(n):
        image, drawn = _shape_image(rng, i, count=2)
        caps = sorted({_MMVET_CAPABILITIES[i % 6], _MMVET_CAPABILITIES[(i * 5 + 1) % 6]})
        (c1, s1), (c2, s2) = drawn
        if i % 3 == 0:
            question, answer = "Which two colours appear in the image?", f"{c1}<AND>{c2}"
        elif i % 3 == 1:
            question, answer = "Name a shape in the image.", f"{s1}<OR>{s2}"
        else:
            question, answer = "How many shapes are there?", "2"
        rows.append(
            {"index": i, "question": question, "answer": answer, "category": ",".join(caps), "image": image}
        )
    return rows


def _llavabench(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for i in range(n):
        image, drawn = _shape_image(rng, i)
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


CRPE_INSTRUCTION = "Answer with the option's letter from the given choices directly."


def _crpe(rng: random.Random, n: int, categories: tuple[str, ...]) -> list[Row]:
    """Blocks of 4 consecutive rows: one question with its options rotated (the circular variants).

    Row format follows the official CRPE files (options as 'A. text' lines in the question, the
    letter as the answer); that the VLMEvalKit TSVs keep exactly this text is UNVERIFIED."""
    rows = []
    for q in range(n):
        image, drawn = _shape_image(rng, q)
        category = categories[q % len(categories)]
        colour, shape = drawn[0]
        if category == "exist":
            stem, right = "Which of the following objects is in the image?", f"a {colour} {shape}"
            wrong = [f"a {c} {shape}" for c in COLOURS if c != colour][:3]
        else:
            stem = f"What is the {category} of the relation between the shapes?"
            right = {"subject": shape, "predicate": "next to", "object": drawn[1][1]}[category]
            wrong = [w for w in ("far from", "above", "a dog", "a tree") if w != right][:3]
        options = [right, *wrong]
        rng.shuffle(options)
        first_index = q * 4
        for rotation in range(4):
            rotated = options[rotation:] + options[:rotation]
            letter = LETTERS[rotated.index(right)]
            listed = "\n".join(f"{LETTERS[k]}. {text}" for k, text in enumerate(rotated))
            rows.append(
                {
                    "index": first_index + rotation,
                    "question": f"{stem}\n{listed}\n{CRPE_INSTRUCTION}",
                    "answer": letter,
                    "category": category,
                    "image": image if rotation == 0 else str(first_index),
                }
            )
    return rows


# --------------------------------------------------------------------------------------------------
# issue 21: the further MCQ and Y/N benchmarks (each a small builder, to move into its family)
# --------------------------------------------------------------------------------------------------
_CN_COLOURS = {
    "red": "红色",
    "green": "绿色",
    "blue": "蓝色",
    "yellow": "黄色",
    "purple": "紫色",
    "orange": "橙色",
}
_CN_SHAPES = {"circle": "圆形", "square": "正方形", "triangle": "三角形"}


def _mmbench_cn(rng: random.Random, n: int, with_answers: bool, split: str) -> list[Row]:
    """MMBench's rows in Chinese (question, hint and options), so the Chinese instruction and the
    Chinese judge prompt are exercised."""
    rows = _mmbench(rng, n, with_answers, split)
    for row in rows:
        shape = next(s for s in _CN_SHAPES if s in row["question"])
        row["question"] = f"图中画的第一个{_CN_SHAPES[shape]}是什么颜色？"
        if isinstance(row["hint"], str):
            row["hint"] = "图中白色背景上画着几个形状。"
        for letter in "ABCD":
            if isinstance(row[letter], str):
                row[letter] = _CN_COLOURS[row[letter]]
    return rows


def _plain_mcq(
    rng: random.Random, n: int, categories: tuple[str, ...] = (), hint: bool = False, extra: Row | None = None
) -> list[Row]:
    """A single-image MCQ file (RealWorldQA, ScienceQA, SEED-Bench): 2 to 4 options, a category per
    row where the benchmark has one, a hint on every other row where it has one."""
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = _shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        question, options, answer = _colour_question(rng, drawn, (4, 2, 3)[i % 3])
        row: Row = {"index": i, "question": question}
        if hint:
            row["hint"] = NAN if i % 2 == 0 else f"The image shows {len(drawn)} shapes."
        row.update(_pad_options(options, 4))
        row["answer"] = LETTERS[answer]
        if categories:
            row["category"] = categories[i % len(categories)]
        row.update(extra or {})
        row["image"] = image
        rows.append(row)
    return rows


def _mmt_bench(rng: random.Random, n: int) -> list[Row]:
    """Row i: meta-task (l2-category) i mod 32, in report_acc_MMT's table order, subtask (category)
    i div 32 of it: from 33 rows on, some meta-tasks average two subtasks; from 32 rows on, every
    meta-task is there (the reference's table needs them all)."""
    rows = _plain_mcq(rng, n)
    metas = list(MMT_ABBRS)
    for i, row in enumerate(rows):
        image = row.pop("image")
        meta = metas[i % len(metas)]
        row["category"], row["l2-category"] = f"{meta}_subtask_{i // len(metas)}", meta
        row["image"] = image
    return rows


_BLINK_TASKS = ("Relative_Depth", "Visual_Similarity", "Multi-view_Reasoning")


def _blink(rng: random.Random, n: int) -> list[Row]:
    """Two or three images per question (a list of base64 images with their file names)."""
    rows = []
    for i in range(n):
        n_images = 2 + i % 2
        images, drawn_all = [], []
        for k in range(n_images):
            image, drawn = _shape_image(rng, i + 3 * k)
            images.append(image)
            drawn_all.append(drawn)
        question, options, answer = _colour_question(rng, drawn_all[0], (2, 4)[i % 2])
        row: Row = {
            "index": i + 1,
            "question": question.replace("the image", "the first image"),
        }
        row.update(_pad_options(options, 4))
        row.update(
            {
                "answer": LETTERS[answer],
                "category": _BLINK_TASKS[i % len(_BLINK_TASKS)],
                "image": str(images),
                "image_path": str([f"blink_{i}_{k}.jpg" for k in range(n_images)]),
            }
        )
        rows.append(row)
    return rows


_MME_CATEGORIES = tuple(c for members in MME_SUPER_CATEGORIES.values() for c in members)  # all 14 from n = 14


def _mme(rng: random.Random, n: int) -> list[Row]:
    """``n`` images, two questions each (one 'Yes', one 'No'), the second naming the first's image by
    index, as the real file does; image_path '<category>/<n>.jpg' pairs them for acc+."""
    rows = []
    for i in range(n):
        category = _MME_CATEGORIES[i % len(_MME_CATEGORIES)]
        image, drawn = _shape_image(rng, i, count=1)
        colour = drawn[0][0]
        other = rng.choice([c for c in COLOURS if c != colour])
        for k, (asked, answer) in enumerate(((colour, "Yes"), (other, "No"))):
            rows.append(
                {
                    "index": 2 * i + k,
                    "category": category,
                    "image_path": f"{category}/{i}.jpg",
                    "question": f"Is there a {asked} shape in the image? Please answer yes or no.",
                    "answer": answer,
                    "image": image if k == 0 else str(2 * i),
                }
            )
    return rows


_POPE_SPLITS = ("adversarial", "popular", "random", "adversarial,popular", "popular,random,adversarial")


def _pope(rng: random.Random, n: int) -> list[Row]:
    """POPE rows: object-existence questions; some rows are listed under several splits at once."""
    rows, previous = [], None
    for i in range(n):
        image, drawn, shared = _shared_or_new(rng, i, previous)
        previous = None if shared else (image, drawn)
        present = drawn[0][1]
        asked = (
            present
            if i % 2 == 0
            else rng.choice([s for s in ("circle", "square", "triangle") if s != present])
        )
        rows.append(
            {
                "index": i,
                "question": f"Is there a {asked} in the image?",
                "answer": "Yes" if asked == present else "No",
                "category": _POPE_SPLITS[i % len(_POPE_SPLITS)],
                "image": image,
            }
        )
    return rows


BUILDERS: dict[str, Callable[[random.Random, int], list[Row]]] = {
    "MMBench_TEST_EN_V11": lambda rng, n: _mmbench(rng, n, with_answers=False, split="test"),
    "MMBench_DEV_EN_V11": lambda rng, n: _mmbench(rng, n, with_answers=True, split="dev"),
    "MMStar": _mmstar,
    "MMMU_DEV_VAL": _mmmu,
    "MathVista_MINI": _mathvista,
    "HallusionBench": _hallusionbench,
    "AI2D_TEST": _ai2d,
    "OCRBench": _ocrbench,
    "MMVet": _mmvet,
    "LLaVABench": _llavabench,
    "CRPE_EXIST": lambda rng, n: _crpe(rng, n, ("exist",)),
    "CRPE_RELATION": lambda rng, n: _crpe(rng, n, ("subject", "predicate", "object")),
    "MMBench_TEST_CN_V11": lambda rng, n: _mmbench_cn(rng, n, with_answers=False, split="test"),
    "MMBench_DEV_CN_V11": lambda rng, n: _mmbench_cn(rng, n, with_answers=True, split="dev"),
    "RealWorldQA": _plain_mcq,
    "ScienceQA_TEST": lambda rng, n: _plain_mcq(
        rng, n, ("natural science", "social science"), hint=True, extra={"split": "test"}
    ),
    "SEEDBench_IMG": lambda rng, n: _plain_mcq(rng, n, ("Scene Understanding", "Instance Identity")),
    "SEEDBench2_Plus": lambda rng, n: _plain_mcq(rng, n, ("chart", "map", "web")),
    "MMT-Bench_VAL": _mmt_bench,
    "BLINK": _blink,
    "MME": _mme,
    "POPE": _pope,
}


def benchmark_rows(name: str, n: int = 8, seed: int = 0) -> list[Row]:
    """The synthetic rows of benchmark ``name`` (before writing)."""
    try:
        builder = BUILDERS[name]
    except KeyError:
        raise VlevalError(f"no synthetic builder for {name!r}; known: {', '.join(BUILDERS)}") from None
    if n < 1:
        raise VlevalError(f"n must be at least 1, got {n}")
    return builder(random.Random(f"{name}:{seed}"), n)


def make_benchmark_tsv(name: str, root: Path | str, n: int = 8, seed: int = 0) -> Path:
    """Write ``{root}/{name}.tsv`` in the reference format; deterministic given (name, n, seed)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.tsv"
    pd.DataFrame(benchmark_rows(name, n, seed)).to_csv(path, sep="\t", index=False, lineterminator="\n")
    return path


def make_benchmark_tsvs(names: Iterable[str], root: Path | str, n: int = 8, seed: int = 0) -> dict[str, Path]:
    return {name: make_benchmark_tsv(name, root, n, seed) for name in names}


def protocol_accepting(protocol: Protocol, files: dict[str, Path]) -> Protocol:
    """``protocol`` with md5 overrides for these synthetic files, so the md5-checked paths
    (``require_tsv``, ``data list``) accept them; the registry itself is untouched."""
    from vleval.datasets.files import md5_of_file

    overrides = dict(protocol.md5_overrides)
    overrides.update({name: md5_of_file(Path(path)) for name, path in files.items()})
    return dataclasses.replace(protocol, name=f"{protocol.name}+synthetic", md5_overrides=overrides)


def right_answer(row: dict) -> str:
    """A prediction the reference's rules read as right for a row of a synthetic benchmark (tests and
    benches that need predictions of a known accuracy)."""
    import ast

    if "gpt4_ans" in row:  # LLaVA-Bench: GPT-4's own answer
        return str(row["gpt4_ans"])
    if row.get("question_type") == "multi_choice":  # MathVista
        return str(row["answer_option"])
    if str(row.get("answer", "")).startswith("["):  # OCRBench: a list literal of gold answers
        return f"It reads {ast.literal_eval(row['answer'])[0]}"
    return str(row["answer"])
