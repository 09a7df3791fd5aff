"""Evaluation protocols: the reference toolkit's rules pinned by name.

A protocol is data. Code that behaves differently between protocols asks the protocol object it was
handed (``protocol.has(Quirk.X)``, ``protocol.judge_for(card)``); nothing reads a global or an
environment variable to decide. Sources: ``docs/benchmark-protocol.md``,
``docs/model-protocol.md``; the quirks, their kinds and vleval-1's fixes: ``docs/protocols.md``.

- ``2024.12``: VLMEvalKit b13a37db (2024-12-30), the rules behind the published InternVL2.5 numbers.
- ``2026.08``: VLMEvalKit e8e78f05 (2026-08-18).
- ``vleval-1``: vleval's own rules: 2026.08 with every quirk of kind "bug" switched off and fixed;
  quirks of kind "definition" kept. Not the reference: its numbers are not comparable to published
  ones, and ``vleval diff-protocols`` says by how much and on which rows.

Quirks are the reference's behaviours that a careful reimplementation would not choose, reproduced
under a pinned protocol because they shaped its numbers. ``QUIRKS`` documents each one: what the
reference does, whether it is a bug or a matter of definition, and for bugs what vleval-1 does
instead with a minimal example. A scorer asks ``protocol.has(Quirk.X)`` for the reference's
behaviour; where switching a quirk off would give an *older* reference's behaviour rather than the
fix, the fix is its own switch, ``protocol.fixes(Quirk.X)``, so the pinned protocols stay
byte-unchanged. Protocols derived for comparison are built with ``dataclasses.replace`` or
``Protocol.with_rule_of`` (one quirk set as another protocol has it).

Not reproduced (it depends on what earlier runs left on disk, not on the rules): the reference's
image cache under ``$LMUData/images/<folder>/``, shared by MMBench_V11 DEV/TEST and by CRPE
EXIST/RELATION, feeds the second split of a pair the first split's images wherever indices overlap
and no ``image_path`` names them apart (bench/PARITY.md). Nor is 2026.08's temperature 0.6 / top_p
0.95 next to greedy decoding: with do_sample=False it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

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
    MATHVISTA_INT_REJECTS_DECIMAL = "mathvista_int_rejects_decimal"  # int('8.0') raises: '8.0' != 8
    MATHVISTA_PRECISION_IGNORED = "mathvista_precision_ignored"  # floats compared exactly
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


QuirkKind = Literal["bug", "definition"]


@dataclass(frozen=True)
class QuirkInfo:
    """What one quirk is. ``kind``: "bug" (the reference's own intent or the benchmark's definition
    says otherwise; vleval-1 fixes it) or "definition" (a rule one may disagree with but that defines
    the metric; vleval-1 keeps it). ``stage``: where it acts ("scoring", or "inference": it changes
    what the model sees, so a diff of the same predictions cannot show it)."""

    label: str  # short name for tables, e.g. "CRPE argument order"
    kind: QuirkKind
    reference: str  # what the reference does (with its source)
    why: str  # bug: why it is wrong; definition: why it stays
    fix: str  # bug: what vleval-1 does instead; definition: ""
    example: str  # a minimal input and its outcome under the reference and under vleval-1
    stage: Literal["scoring", "inference"] = "scoring"
    families: tuple[str, ...] = ()  # benchmark families (BenchmarkCard.family) it acts on; () = all

    def acts_on(self, family: str) -> bool:
        return self.stage == "scoring" and (not self.families or family in self.families)


# VK = open-compass/VLMEvalKit. Every bug's fix is switched on in vleval-1 (PROTOCOL_VLEVAL_1).
QUIRKS: dict[Quirk, QuirkInfo] = {
    Quirk.MCQ_LAST_FIVE_TOKENS: QuirkInfo(
        label="MCQ lone letter only near the end",
        kind="definition",
        reference="VK e8e78f05 vlmeval/utils/matching_util.py::can_infer_option: a single option letter "
        "counts only when it is among the last five tokens of the answer.",
        why="A heuristic against reading the article 'A' as option A; a letter it rejects goes to the "
        "judge, so it moves work to the judge rather than deciding wrongly.",
        fix="",
        example="'B is right because the picture shows a red car' -> not read by rule (judge decides).",
        families=("mcq", "mathvista"),
    ),
    Quirk.MCQ_TEXT_LENGTH_CAP: QuirkInfo(
        label="MCQ option-text length cap",
        kind="definition",
        reference="VK e8e78f05 matching_util.py::can_infer_text: no option-text match when the answer "
        "is longer than twice the options' text together.",
        why="A heuristic against long answers that mention several options; rejected rows go to the judge.",
        fix="",
        example="a 300-character explanation naming one option -> judge decides, not the text rule.",
        families=("mcq", "mathvista"),
    ),
    Quirk.MCQ_ANSWER_IS_REGEX: QuirkInfo(
        label="MCQ 'answer is X' regex",
        kind="bug",
        reference="VK e8e78f05 matching_util.py (from a67ace50, 2026-06-17): "
        "'(?i)(?:correct\\s+)?answer\\s+is\\s+\\**([ABCD])\\**' ignores case and does not "
        "require the letter to stand alone.",
        why="It reads the first letter of any word after 'answer is' as an option: 'The answer is "
        "blue' is read as B, 'the answer is definitely ...' as D; and options after D ('**E**') are "
        "never read.",
        fix="The letter must be an upper-case option letter of this question standing alone "
        "(optionally in parentheses or bold); 'answer is' itself in any case.",
        example="options A red / B blue / C green, prediction 'The answer is blue.': 2026.08 reads B "
        "by the regex; vleval-1 does not, and the option-text rule reads B from 'blue' instead only "
        "when the text is unambiguous. 'The answer is **E**' with five options: vleval-1 reads E.",
        families=("mcq", "mathvista"),
    ),
    Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS: QuirkInfo(
        label="MCQ random letter after judge failures",
        kind="bug",
        reference="VK vlmeval/dataset/utils/multiple_choice.py::extract_answer_from_item: after 3 "
        "unusable judge answers, random.choice over the options and 'Z', unseeded (vleval seeds it).",
        why="A score must not depend on chance: the same predictions give different numbers run to "
        "run, and a lucky draw counts as a right answer the model never gave.",
        fix="The row is 'Z' (wrong) with decided_by='unparsed', counted in the result's censoring.",
        example="a row the judge cannot match three times: 2026.08 draws e.g. 'C' (right 1 time in "
        "5); vleval-1 scores it wrong and marks it unparsed.",
        families=("mcq",),
    ),
    Quirk.CRPE_SWAPPED_ARGS: QuirkInfo(
        label="CRPE argument order",
        kind="bug",
        reference="VK vlmeval/dataset/utils/crpe.py::is_correct(predict, answer) is called with the "
        "gold answer first, then compares gold[4:] (meant to strip '(A) ') as a substring of the "
        "prediction.",
        why="For a one-letter gold answer gold[4:] is '', which is a substring of every text: any "
        "prediction that does not start with A-D counts as right.",
        fix="An empty gold text matches nothing: such a prediction is wrong unless its letter is right.",
        example="gold 'B', prediction 'The dog is on the left': 2026.08 right; vleval-1 wrong.",
        families=("crpe",),
    ),
    Quirk.CRPE_CIRCULAR_BLOCKS: QuirkInfo(
        label="CRPE circular blocks of 4",
        kind="definition",
        reference="VK e8e78f05 vlmeval/dataset/image_vqa.py::CRPE.evaluate: a question counts as right "
        "only if all 4 rotations of its options are right.",
        why="CircularEval, as MMBench: a definition of the metric (robust to option order).",
        fix="",
        example="rotations right, right, wrong, right -> the question is wrong.",
        families=("crpe",),
    ),
    Quirk.MATHVISTA_LIST_NEVER_CORRECT: QuirkInfo(
        label="MathVista list answers never right",
        kind="bug",
        reference="VK vlmeval/dataset/utils/mathvista.py::post_check: for answer types other than "
        "integer/float it compares str(res) with the answer while res is still None.",
        why="It compares the string 'None' with the gold answer, so list answers can never be right.",
        fix="The extracted answer's text is compared with the gold text.",
        example="answer '[3, 5]', extracted '[3, 5]': 2026.08 wrong; vleval-1 right.",
        families=("mathvista",),
    ),
    Quirk.MATHVISTA_PREFETCH_ANY_LETTER: QuirkInfo(
        label="MathVista rule letter decides",
        kind="definition",
        reference="VK mathvista.py::post_check(prefetch=True) returns any letter can_infer reads, right "
        "or wrong, so it is logged as a successful prefetch.",
        why="An option letter read by rule is the model's answer; sending wrong letters to the judge "
        "would give the model a second chance. Only the prefetch rate's name misleads.",
        fix="",
        example="answer option A, prediction 'B' -> wrong, decided by rule.",
        families=("mathvista",),
    ),
    Quirk.MATHVISTA_ZERO_PREFETCH_FALSY: QuirkInfo(
        label="MathVista prefetched 0 goes to the judge",
        kind="bug",
        reference="VK mathvista.py::MathVista_auxeval: 'if ans:' tests the prefetched value, and 0 "
        "(a right answer of 0) is falsy.",
        why="A right answer of 0 read by rule is thrown away and left to the judge, which may "
        "extract something else.",
        fix="A prefetched value counts unless it is False/None.",
        example="answer 0, prediction '0': 2026.08 asks the judge; vleval-1 decides right by rule.",
        families=("mathvista",),
    ),
    Quirk.MATHVISTA_INT_REJECTS_DECIMAL: QuirkInfo(
        label="MathVista '8.0' for an integer",
        kind="bug",
        reference="VK mathvista.py::post_check: int(response) for integer answers; int('8.0') raises, "
        "so the row is wrong.",
        why="'8.0' states the integer 8; the official MathVista scorer normalises numbers before "
        "comparing (lupantech/MathVista evaluation/calculate_score.py::normalize_extracted_answer).",
        fix="A number with an integral value ('8.0', ' 8 ') equals the integer answer.",
        example="answer 8, extracted '8.0': 2026.08 wrong; vleval-1 right.",
        families=("mathvista",),
    ),
    Quirk.MATHVISTA_PRECISION_IGNORED: QuirkInfo(
        label="MathVista precision ignored",
        kind="bug",
        reference="VK mathvista.py::post_check compares float(res) == float(answer) and never reads "
        "the 'precision' column.",
        why="The benchmark gives each float answer's precision (decimal places); the official scorer "
        "rounds the extracted answer to it (lupantech/MathVista calculate_score.py).",
        fix="Both sides are rounded to 'precision' decimals before comparing (exact when absent).",
        example="answer 3.14, precision 2, extracted '3.1416': 2026.08 wrong; vleval-1 right.",
        families=("mathvista",),
    ),
    Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE: QuirkInfo(
        label="LLaVA-Bench unparsable review = -1",
        kind="bug",
        reference="VK vlmeval/dataset/utils/llavabench.py::parse_score returns [-1, -1] for a review "
        "without a 'score score' first line, and the mean includes it.",
        why="-1 is an error code, not a grade: it lowers both means, and the relative score by an "
        "amount that depends on the row.",
        fix="The row is left out of the means (decided_by='unparsed').",
        example="reviews '8 6' and 'I cannot judge': 2026.08 mean model score (6-1)/2 = 2.5; vleval-1 6.",
        families=("llavabench",),
    ),
    Quirk.MMVET_DIVIDE_BY_CAPABILITY_COUNT: QuirkInfo(
        label="MM-Vet missing capability",
        kind="bug",
        reference="VK vlmeval/dataset/utils/mmvet.py::MMVet_acc divides by each of the six "
        "capabilities' counts: a file without one capability raises ZeroDivisionError (vleval "
        "prints NaN and a note).",
        why="A subset without, say, 'spat' rows has a perfectly good score.",
        fix="Capabilities without rows are left out of the table.",
        example="rows with no 'spat' capability: 2026.08 'spat' row NaN (reference: crash); "
        "vleval-1 no 'spat' row.",
        families=("mmvet",),
    ),
    Quirk.MMVET_MAX_TOKENS_3: QuirkInfo(
        label="MM-Vet judge max_tokens=3",
        kind="bug",
        reference="VK b13a37db vlmeval/dataset/image_vqa.py::MMVet.evaluate builds the judge with "
        "max_tokens=3 (2048 from later commits on).",
        why="Three tokens cut grades such as '0.75' or an answer with a leading space, which then "
        "fail to parse and are retried at higher temperature.",
        fix="max_tokens 2048, as 2026.08.",
        example="judge request for any MM-Vet row: 2024.12 max_tokens=3; vleval-1 2048.",
        families=("mmvet",),
    ),
    Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE: QuirkInfo(
        label="MM-Vet single capability counted twice",
        kind="bug",
        reference="VK mmvet.py::MMVet_acc keeps capabilities and category strings in one counter.",
        why="A row whose category is one capability ('ocr') is added once as capability and once as "
        "category, so that capability's accuracy weighs it double.",
        fix="Separate counters for capabilities and categories.",
        example="rows 'ocr' (score 1) and 'rec,ocr' (score 0): 2026.08 ocr = 2/3; vleval-1 1/2.",
        families=("mmvet",),
    ),
    Quirk.YORN_PERIOD_LIMIT_32: QuirkInfo(
        label="Y/N only 32 periods stripped",
        kind="bug",
        reference="VK vlmeval/smp/misc.py::process_punctuation passes re.UNICODE (= 32) as re.sub's "
        "count argument.",
        why="Meant as a flag; as a count it stops stripping periods after the 32nd, so 'yes.' late in "
        "a long answer is not the word 'yes'.",
        fix="Every period is stripped.",
        example="33 sentences then 'Yes.': 2026.08 Unknown; vleval-1 Yes.",
        families=("yorn",),
    ),
    Quirk.PUNCT_PERIOD_AFTER_DIGIT_STRIPPED: QuirkInfo(
        label="punctuation lookbehind typo",
        kind="bug",
        reference="VK b13a37db smp/misc.py periodStrip '(?!<=\\d)(\\.)(?!\\d)', a typo for the "
        "lookbehind '(?<!\\d)' (fixed by 2026.08).",
        why="Meant to keep a period after a digit; the typo strips it ('5.' -> '5').",
        fix="The lookbehind, as 2026.08.",
        example="process_punctuation('5. yes'): 2024.12 '5 yes'; vleval-1 '5. yes'.",
        families=("yorn",),
    ),
    Quirk.EMPTY_PREDICTION_IS_NAN: QuirkInfo(
        label="empty prediction read as 'nan'",
        kind="bug",
        reference="VK vlmeval/inference.py writes predictions to xlsx; pandas reads an empty cell (and "
        "texts such as 'None', 'NA') back as NaN, and str() makes it 'nan'.",
        why="The model's text is replaced by another one: 'None' (a valid answer to 'which option?') "
        "becomes 'nan', and an empty answer can match an option whose text contains 'nan' "
        "('banana').",
        fix="The prediction text exactly as written; an empty one stays ''.",
        example="prediction cell 'None': 2026.08 scores the text 'nan'; vleval-1 scores 'None'.",
    ),
    Quirk.JPEG_REENCODE_SINGLE_IMAGE: QuirkInfo(
        label="single image re-encoded as JPEG",
        kind="bug",
        reference="VK b13a37db vlmeval/dataset/image_base.py::dump_image writes a row's single image "
        "to <index>.jpg, a lossy JPEG round trip, before the model reads it.",
        why="The model sees other pixels than the benchmark's image.",
        fix="The image as stored (lossless), as 2026.08.",
        example="a PNG image: 2024.12 the model reads '<index>.jpg'; vleval-1 '<index>.png'.",
        stage="inference",
    ),
}


# Judge short names as the reference spells them -> API model ids (VK judge_util.py::build_judge).
JUDGE_MODEL_IDS: dict[str, str] = {
    "chatgpt-0125": "gpt-3.5-turbo-0125",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4-turbo": "gpt-4-1106-preview",
    "gpt-4o": "gpt-4o-2024-05-13",
    "gpt-4-0125": "gpt-4-0125-preview",
    # vleval-1's open-answer judge (not a reference short name)
    "gpt-4.1": "gpt-4.1-2025-04-14",
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
    quirks: frozenset[Quirk] = frozenset()
    # quirks whose fix applies where switching the quirk off alone would give an older reference's
    # behaviour instead (see ``fixes``)
    fixed: frozenset[Quirk] = frozenset()
    mcq_result_file_tag: str | None = None  # 'openai' in 2024.12; None = the judge's short name
    # judge max_tokens when the reference does not set one (VK api/gpt.py OpenAIWrapper default)
    judge_max_tokens: int = 2048
    # for a protocol of our own: when its judge models were chosen (the ids name dated snapshots)
    judges_chosen: str | None = None

    def has(self, quirk: Quirk) -> bool:
        """The reference's behaviour for ``quirk`` applies."""
        return quirk in self.quirks

    def fixes(self, quirk: Quirk) -> bool:
        """vleval's fix for ``quirk`` applies (only where it is not simply the quirk switched off)."""
        return quirk in self.fixed and quirk not in self.quirks

    def with_rule_of(self, other: Protocol, quirk: Quirk) -> Protocol:
        """This protocol with ``quirk`` (on, off or fixed) as ``other`` has it."""

        def as_other(mine: frozenset[Quirk], theirs: frozenset[Quirk]) -> frozenset[Quirk]:
            return (mine - {quirk}) | (theirs & {quirk})

        return replace(
            self,
            name=f"{self.name}+{quirk.value}@{other.name}",
            quirks=as_other(self.quirks, other.quirks),
            fixed=as_other(self.fixed, other.fixed),
        )

    def with_judges_of(self, other: Protocol) -> Protocol:
        """This protocol with ``other``'s judge models and judge request settings."""
        return replace(
            self,
            name=f"{self.name}+judges@{other.name}",
            **{name: getattr(other, name) for name in JUDGE_FIELDS},
        )

    def md5_for(self, card: BenchmarkCard) -> str:
        return self.md5_overrides.get(card.name, card.md5)

    def judge_for(self, card: BenchmarkCard) -> str | None:
        """The reference's default judge short name for a benchmark (VK run.py::get_judge_kwargs);
        None where the metric is rule-based (OCRBench, CRPE). The benchmark's family knows which of
        this protocol's judges it uses (``mcq_judge``, ``mathvista_judge``, ``open_judge``)."""
        from vleval.families.base import family_of

        return family_of(card).default_judge(self, card)


_COMMON_QUIRKS = frozenset(
    {
        Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS,
        Quirk.CRPE_SWAPPED_ARGS,
        Quirk.MATHVISTA_LIST_NEVER_CORRECT,
        Quirk.MATHVISTA_PREFETCH_ANY_LETTER,
        Quirk.MATHVISTA_ZERO_PREFETCH_FALSY,
        Quirk.MATHVISTA_INT_REJECTS_DECIMAL,
        Quirk.MATHVISTA_PRECISION_IGNORED,
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
        # re-uploaded between b13a37db and e8e78f05 (image_mcq.py DATASET_MD5)
        "MMBench_TEST_CN_V11": "74bbe4556dac745613c7cbe5ad787050",
        "RealWorldQA": "92321028d2bc29040284b6674721e48f",
        "BLINK": "3b6649b6a662184ea046908e5506260e",
    },
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

BUGS = frozenset(q for q, info in QUIRKS.items() if info.kind == "bug")

PROTOCOL_VLEVAL_1 = replace(
    PROTOCOL_2026_08,
    name="vleval-1",
    reference_commit="e8e78f05",  # the rules it starts from
    # dated snapshots, chosen 2026-11-30: the reference's MM-Vet/LLaVA judge gpt-4-1106-preview is a
    # preview model; gpt-4o-mini-2024-07-18 is 2026.08's own MCQ/Y-N/MathVista judge
    mcq_judge="gpt-4o-mini",
    mathvista_judge="gpt-4o-mini",
    open_judge="gpt-4.1",
    quirks=PROTOCOL_2026_08.quirks - BUGS,
    fixed=BUGS,
    judges_chosen="2026-11-30",
)

# Fields that decide which judge answers a request and what it is asked; judge_retries and
# judge_timeout_s only decide how long to insist.
JUDGE_FIELDS = ("mcq_judge", "mathvista_judge", "open_judge", "judge_max_tokens")

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (PROTOCOL_2024_12, PROTOCOL_2026_08, PROTOCOL_VLEVAL_1)}
PINNED_PROTOCOLS = ("2024.12", "2026.08")  # reproduce the reference; vleval-1 is our own
DEFAULT_PROTOCOL = "2024.12"


def get_protocol(name: str = DEFAULT_PROTOCOL) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; protocols: {', '.join(PROTOCOLS)}") from None
