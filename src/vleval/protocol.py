"""Evaluation protocols: the reference toolkit's rules pinned by name.

A protocol is data. Code that behaves differently between protocols asks the protocol object it was
handed (``protocol.has(Quirk.X)``, ``protocol.judge_for(card)``); nothing reads a global or an
environment variable to decide. Sources: ``docs/benchmark-protocol.md``
and ``docs/model-protocol.md``.

- ``2024.12``: VLMEvalKit b13a37db (2024-12-30), the rules behind the published InternVL2.5 numbers.
- ``2026.08``: VLMEvalKit e8e78f05 (2026-08-18).

Quirks are the reference's behaviours that a careful reimplementation would not choose, reproduced
under a pinned protocol because they shaped its numbers. A protocol of our own can drop them one by
one (``dataclasses.replace(p, quirks=p.quirks - {Quirk.X})``).

Not reproduced (it depends on what earlier runs left on disk, not on the rules): the reference's
image cache under ``$LMUData/images/<img_root>/``, shared by MMBench_V11 DEV/TEST and by CRPE
EXIST/RELATION, feeds the second split of a pair the first split's images wherever indices overlap
and no ``image_path`` names them apart (bench/PARITY.md). Nor is 2026.08's temperature 0.6 / top_p
0.95 next to greedy decoding: with do_sample=False it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vleval.types import BenchmarkCard


class Quirk(StrEnum):
    # --- answer matching (MCQ can_infer, VK vlmeval/utils/matching_util.py)
    MCQ_LAST_FIVE_TOKENS = "mcq_last_five_tokens"  # 2026.08: a lone letter counts only near the end
    MCQ_TEXT_LENGTH_CAP = "mcq_text_length_cap"  # 2026.08: answer > 2x option text -> no text match
    MCQ_ANSWER_IS_REGEX = "mcq_answer_is_regex"  # 2026.08: '(?i)answer is X' reads 'answer is blue' as B
    MCQ_RANDOM_AFTER_JUDGE_FAILS = "mcq_random_after_judge_fails"  # random letter (we seed it)
    # --- CRPE (VK vlmeval/dataset/utils/crpe.py)
    CRPE_SWAPPED_ARGS = "crpe_swapped_args"  # gold[4:] substring: one-letter gold -> any non-A-D pred hits
    CRPE_CIRCULAR_BLOCKS = "crpe_circular_blocks"  # 2026.08: a question counts only if all 4 rows hit
    # --- MathVista (VK vlmeval/dataset/utils/mathvista.py)
    MATHVISTA_LIST_NEVER_CORRECT = "mathvista_list_never_correct"  # compares 'None' with the answer
    MATHVISTA_PREFETCH_ANY_LETTER = "mathvista_prefetch_any_letter"  # any letter = prefetch success
    MATHVISTA_ZERO_PREFETCH_FALSY = "mathvista_zero_prefetch_falsy"  # prefetched 0 goes to the judge
    # --- judges
    LLAVABENCH_UNPARSABLE_MINUS_ONE = "llavabench_unparsable_minus_one"  # [-1, -1] averaged in
    MMVET_DIVIDE_BY_CAPABILITY_COUNT = "mmvet_divide_by_capability_count"  # missing capability raises
    MMVET_MAX_TOKENS_3 = "mmvet_max_tokens_3"  # 2024.12: MM-Vet judge requests carry max_tokens=3
    # MMVet_acc uses one counter dict for capabilities and category strings: a row whose category is a
    # single capability ('ocr') counts twice in that capability's row (and in the fine table)
    MMVET_SINGLE_CAPABILITY_COUNTED_TWICE = "mmvet_single_capability_counted_twice"
    YORN_PERIOD_LIMIT_32 = "yorn_period_limit_32"  # re.sub(..., re.UNICODE) as count: <= 32 periods
    # 2024.12: smp/misc.py periodStrip '(?!<=\d)(\.)(?!\d)' (typo for a lookbehind) also strips '5.'
    PUNCT_PERIOD_AFTER_DIGIT_STRIPPED = "punct_period_after_digit_stripped"
    # --- predictions and images
    EMPTY_PREDICTION_IS_NAN = "empty_prediction_is_nan"  # xlsx round trip turns '' into 'nan'
    JPEG_REENCODE_SINGLE_IMAGE = "jpeg_reencode_single_image"  # 2024.12: images go through <index>.jpg


# Judge short names as the reference spells them -> API model ids (VK judge_util.py::build_judge).
JUDGE_MODEL_IDS: dict[str, str] = {
    "chatgpt-0125": "gpt-3.5-turbo-0125",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4-turbo": "gpt-4-1106-preview",
    "gpt-4o": "gpt-4o-2024-05-13",
    "gpt-4-0125": "gpt-4-0125-preview",
}


@dataclass(frozen=True)
class Protocol:
    name: str
    reference_commit: str  # VLMEvalKit commit whose behaviour this pins
    mcq_judge: str  # short name for MCQ and Y/N answer matching
    mathvista_judge: str
    open_judge: str  # MM-Vet and LLaVA-Bench grading
    judge_retries: int
    judge_timeout_s: float
    md5_overrides: dict[str, str] = field(default_factory=dict)
    # image cache folder under $LMUData/images where it differs from the card (VK img_root_map)
    img_root_overrides: dict[str, str] = field(default_factory=dict)
    quirks: frozenset[Quirk] = frozenset()
    mcq_result_file_tag: str | None = None  # 'openai' in 2024.12; None = the judge's short name
    # judge max_tokens when the reference does not set one (VK api/gpt.py OpenAIWrapper default)
    judge_max_tokens: int = 2048

    def has(self, quirk: Quirk) -> bool:
        return quirk in self.quirks

    def md5_for(self, card: BenchmarkCard) -> str:
        return self.md5_overrides.get(card.name, card.md5)

    def img_root_for(self, card: BenchmarkCard) -> str:
        return self.img_root_overrides.get(card.name, card.img_root)

    def judge_for(self, card: BenchmarkCard) -> str | None:
        """The reference's default judge short name for a benchmark (VK run.py::get_judge_kwargs);
        None where the metric is rule-based (OCRBench, CRPE)."""
        if card.task_type in ("MCQ", "Y/N"):
            return self.mcq_judge
        if "MMVet" in card.name or "LLaVABench" in card.name:
            return self.open_judge
        if "MathVista" in card.name:
            return self.mathvista_judge
        return None


_COMMON_QUIRKS = frozenset(
    {
        Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS,
        Quirk.CRPE_SWAPPED_ARGS,
        Quirk.MATHVISTA_LIST_NEVER_CORRECT,
        Quirk.MATHVISTA_PREFETCH_ANY_LETTER,
        Quirk.MATHVISTA_ZERO_PREFETCH_FALSY,
        Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE,
        Quirk.MMVET_DIVIDE_BY_CAPABILITY_COUNT,
        Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE,
        Quirk.YORN_PERIOD_LIMIT_32,
        Quirk.EMPTY_PREDICTION_IS_NAN,
    }
)

PROTOCOL_2024_12 = Protocol(
    name="2024.12",
    reference_commit="b13a37db",
    mcq_judge="chatgpt-0125",
    mathvista_judge="gpt-4o-mini",
    open_judge="gpt-4-turbo",
    judge_retries=3,
    judge_timeout_s=60.0,
    md5_overrides={
        "MMBench_TEST_EN_V11": "26f0f15381a21720255091d3e0316ce6",
        "MMMU_DEV_VAL": "521afc0f3bf341e6654327792781644d",
    },
    # VK b13a37db vlmeval/dataset/image_base.py::img_root_map: 'MMMU' in name -> 'MMMU'
    img_root_overrides={"MMMU_DEV_VAL": "MMMU"},
    quirks=_COMMON_QUIRKS
    | {
        Quirk.MMVET_MAX_TOKENS_3,
        Quirk.JPEG_REENCODE_SINGLE_IMAGE,
        Quirk.PUNCT_PERIOD_AFTER_DIGIT_STRIPPED,
    },
    mcq_result_file_tag="openai",
    judge_max_tokens=1024,
)

PROTOCOL_2026_08 = Protocol(
    name="2026.08",
    reference_commit="e8e78f05",
    mcq_judge="gpt-4o-mini",
    mathvista_judge="gpt-4o-mini",
    open_judge="gpt-4-turbo",
    judge_retries=6,
    judge_timeout_s=600.0,
    quirks=_COMMON_QUIRKS
    | {
        Quirk.MCQ_LAST_FIVE_TOKENS,
        Quirk.MCQ_TEXT_LENGTH_CAP,
        Quirk.MCQ_ANSWER_IS_REGEX,
        Quirk.CRPE_CIRCULAR_BLOCKS,
    },
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (PROTOCOL_2024_12, PROTOCOL_2026_08)}
DEFAULT_PROTOCOL = "2024.12"


def get_protocol(name: str = DEFAULT_PROTOCOL) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; pinned protocols: {', '.join(PROTOCOLS)}") from None
