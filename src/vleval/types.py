"""The objects every stage passes along: samples, requests, predictions, and the cards that describe
benchmarks and models.

This module imports nothing of vleval, so any stage can depend on it without depending on another
stage: dataset row -> Sample -> Request -> Prediction -> RowResult -> ScoreRecord -> report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from PIL import Image

TaskType = Literal["MCQ", "Y/N", "VQA"]
# qwen3/qwen3_moe/internlm3/gpt_oss: the LLMs of InternVL3 and InternVL3.5 (models/internvl3_cards.py);
# internlm3 is named so its cards can say what they are built on, and is refused at load.
LLMFamily = Literal["qwen2", "internlm2", "qwen3", "qwen3_moe", "internlm3", "gpt_oss"]


class JudgeRole(StrEnum):
    """What a benchmark family asks a judge to do; a protocol names one judge model per role
    (``Protocol.judges``), as the reference's ``run.py::get_judge_kwargs`` picks one per kind of benchmark."""

    CHOICE = "choice"  # match a free answer to one of the options, or to yes/no (MCQ, Y/N)
    MATH = "math"  # extract the final answer of a MathVista response
    OPEN = "open"  # grade an open answer against the reference answer (MM-Vet, LLaVA-Bench)


# --------------------------------------------------------------------------------------------------
# Cards: data that describes a benchmark or a model. Registries are dicts of these.
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromptStyle:
    """How the InternVL wrapper words a benchmark's question (VK
    ``vlmeval/vlm/internvl/internvl_chat.py::build_prompt``/``generate_v2``). The reference decides
    these by dataset-name substrings; here each benchmark card states them (the reference's fragment
    tables are kept in ``tests/models/test_prompts.py`` as the oracle these values are checked against).

    ``vqa``: "short" appends the single-word-or-phrase instruction, "detail" the answer-in-detail one
    (neither changes under CoT), "verbatim" asks the question as is (plus the QA CoT text under CoT).
    """

    yorn_instruction: str = ""  # Y/N: said before the short-answer instruction ("Please answer yes or no.")
    # Y/N: the short-answer instruction follows the question (MME, HallusionBench); False: the question
    # is asked as is (the wrapper's other Y/N datasets, e.g. POPE)
    yorn_short_answer: bool = True
    vqa: Literal["short", "detail", "verbatim"] = "short"
    mpo_without_cot: bool = False  # -MPO models use the MPO prompt here even without CoT
    mpo_keeps_prompt: bool = False  # the MPO prompt leaves this benchmark's text alone
    mpo_postprocess: bool = False  # MPO answers are cut to the text after "Final answer:"
    upscale_first_image: bool = False  # the first image is enlarged 2x (bilinear) before tiling


@dataclass(frozen=True)
class BenchmarkCard:
    """One benchmark as the reference toolkit (VLMEvalKit) registers it.

    ``md5`` is the checksum at the newest pinned protocol; ``md5_by_protocol`` lists, as (protocol
    name, md5) pairs, the older protocols that pin another upload of the file (the reference
    re-uploaded some files). ``Protocol.md5_for(card)`` is the one reader.

    The flags say what the reference decides from the dataset name, so that no code outside the
    benchmark's family module has to name it.
    """

    name: str  # VLMEvalKit dataset name, e.g. "MMStar"
    url: str
    md5: str
    task_type: TaskType  # decides the prompt branch and the MCQ/Y-N judge default
    family: str  # the family that owns it (a module of vleval.families), e.g. "mcq", "yorn", "ocrbench"
    max_tiles: int = 6  # per-image tile cap before the multi-image 64 // n reduction
    max_new_tokens: int = 4096
    has_answers: bool = True  # False for MMBench_TEST_EN_V11 (scored on the official server)
    required_columns: tuple[str, ...] = ("index", "question")
    description: str = ""
    prompt: PromptStyle = PromptStyle()
    md5_by_protocol: tuple[tuple[str, str], ...] = ()  # (protocol name, md5) where it is not ``md5``
    # each question is written once per rotation of its options (index + k * 1e6) and counts only if
    # every examined rotation is right (VK CircularEval: MMBench)
    circular: bool = False
    # the split whose accuracy the headline reports when the file has several (MMMU: "validation"); the
    # headline is named after it ("validation Overall accuracy")
    headline_split: str | None = None
    multi_image: bool = False  # rows may carry several images (a list literal in the image cell)
    # rows without options, or whose answer is not an option letter, are open questions scored by the
    # reference's own rule (VK image_mcq.py::MMMU_preproc), not refused as corrupt
    open_questions: bool = False
    # the benchmark defines multi-modal gain and leakage (text-only and LLM-base passes, --mmstar-gain;
    # Chen et al. 2024, MMStar)
    multimodal_gain: bool = False
    # which of its family's scoring rules the reference applies, where its ``evaluate`` picks one by
    # dataset name (yorn: "mme" MME_rating, "pope" POPE_rating; mcq: "mmt" report_acc_MMT, "blink" the
    # BLINK judge prompt); "" = the family's default
    scoring: str = ""

    @property
    def file_name(self) -> str:
        return f"{self.name}.tsv"

    def md5_at(self, protocol_name: str) -> str:
        """The md5 the protocol named ``protocol_name`` pins for this benchmark's file."""
        return dict(self.md5_by_protocol).get(protocol_name, self.md5)


@dataclass(frozen=True)
class ModelCard:
    """One InternVL checkpoint (2.5, 3 or 3.5)."""

    name: str  # canonical VLMEvalKit name, e.g. "InternVL2_5-8B"
    repo_id: str  # Hugging Face repo id
    llm_family: LLMFamily
    params: str  # as the source document prints it, e.g. "8.1B"
    download_gb: float
    gpus_per_task: int  # 8 for 38B/78B (source document's launch script), else 1
    llm_layers: int
    mpo: bool = False  # -MPO variants use the MPO prompt (VLMEvalKit use_mpo_prompt=True)
    aliases: tuple[str, ...] = ()
    generation: str = "2.5"  # InternVL generation: "2.5", "3", "3.5"
    base_llm: str = ""  # the LLM it is built on, as its model card names it ("Qwen2.5-7B")
    hf_format: bool = False  # a transformers-native -HF/-hf repo (InternVLForConditionalGeneration)
    source: str = ""  # where the card's facts come from
    # the reference wrapper's max_new_tokens for this model when it is not the default 4096
    max_new_tokens: int | None = None
    thinking: bool = False  # an InternVL3.5 "-Thinking" entry: the same checkpoint in thinking mode


# --------------------------------------------------------------------------------------------------
# Flow objects
# --------------------------------------------------------------------------------------------------
@dataclass
class Sample:
    """One benchmark row, typed. Knows nothing about models.

    ``images`` are decoded lazily on first access through ``image_loader`` (base64 in the TSV);
    nothing is written to disk unless a caller asks for it.
    """

    dataset: str
    index: int | str
    question: str
    options: dict[str, str] = field(default_factory=dict)  # letter -> text, alphabetical, non-empty
    hint: str | None = None
    answer: str | None = None
    category: str | None = None
    l2_category: str | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # every other non-image column
    image_paths: tuple[str, ...] = ()  # names from the `image_path` column, if any
    image_loader: Callable[[], list[Image.Image]] | None = field(default=None, repr=False)
    _images: list[Image.Image] | None = field(default=None, repr=False, compare=False)

    @property
    def images(self) -> list[Image.Image]:
        if self._images is None:
            self._images = self.image_loader() if self.image_loader else []
        return self._images


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 4096
    do_sample: bool = False  # greedy, as the reference
    num_beams: int = 1
    # sampled decoding only (do_sample): the reference's InternVL3.5 thinking entries sample at 0.6 / 0.95
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None  # the sampling seed of the run (``runner.seeds``); each request derives its own


@dataclass
class Request:
    """What one backend call needs, built by a pure function of (Sample, benchmark card, model card,
    protocol, cot flag) in ``vleval.models.internvl.prompts``.

    ``text`` is the user turn with one ``<image>`` placeholder per image (before the chat template
    and before expanding placeholders into image-context tokens); the backend's processor applies
    the template and the tiling.
    """

    dataset: str
    index: int | str
    text: str
    images: list[Image.Image]
    max_tiles: int  # effective per-image cap (already reduced by 64 // n_images)
    upscale_first_image: bool = False  # MMMU: first image resized 2x with BILINEAR before tiling
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    postprocess: Literal["none", "mpo", "think"] = "none"  # MPO 'Final answer:', thinking: after </think>
    system_message: str | None = None  # None: the chat template's own (a thinking entry: the R1 prompt)


@dataclass
class Prediction:
    dataset: str
    index: int | str
    prediction: str  # the text handed to scoring (after post-processing)
    raw: str | None = None  # the model's text before post-processing
    error: str | None = None  # set when the sample failed (prediction then is a failure text)
    seconds: float | None = None
    prompt: str | None = None  # full templated text, kept for --save-prompts and the report
    tiles: tuple[int, ...] = ()  # tiles per image, thumbnail included
    hit_token_limit: bool = False  # generation stopped at max_new_tokens, not at an end token
    over_context: bool = False  # the prompt is longer than the model's context length (said per sample)


# --------------------------------------------------------------------------------------------------
# The judge seen from scoring: anything that answers chat requests.
# --------------------------------------------------------------------------------------------------
# The reference's failure texts start with FAILURE_PREFIX: a failed sample's prediction (VK
# inference.py, SKIP_ERR) and a failed API call's answer, JUDGE_FAILURE_TEXT (VK api/base.py fail_msg).
FAILURE_PREFIX = "Failed to obtain answer"
JUDGE_FAILURE_TEXT = f"{FAILURE_PREFIX} via API. "


@dataclass(frozen=True)
class JudgeRequest:
    prompt: str
    system: str | None = None
    temperature: float = 0.0
    max_tokens: int = 2048


class Judge(Protocol):
    """An LLM judge. ``ask_many`` returns one answer per request, in order; a request whose calls all
    failed yields ``JUDGE_FAILURE_TEXT`` (as the reference does), never an exception, and a real
    answer never equals that text. Only a judge that cannot be used at all (its key refused, no
    answer at all) raises ``vleval.errors.JudgeUnavailableError``, at once rather than row by row."""

    model: str  # API model id, e.g. "gpt-4o-mini-2024-07-18"
    short_name: str  # the reference's short name used in file names, e.g. "gpt-4o-mini"

    def ask_many(self, requests: Sequence[JudgeRequest]) -> list[str]: ...


@dataclass(frozen=True)
class JudgeProfile:
    """How a judged family asks its judge, as far as the dry run's bill needs it (``vleval.workflows.bill``)
    and the family's scoring uses it: declared once per family (``BenchmarkFamily.judge_profile``).

    ``templates``: the judge prompt template files (``vleval/data/judge_prompts``) one call sends;
    ``answer_tokens``: a typical answer's length in tokens (a letter, a grade, a review);
    ``every_row``: the judge is asked about every row (the bill is exact) rather than only about the
    rows the rules cannot read (the bill is an upper bound); ``rounds``: calls a row gets at most, the
    first and the retries while the answer does not parse."""

    templates: tuple[str, ...]
    answer_tokens: int
    every_row: bool
    rounds: int = 1


# --------------------------------------------------------------------------------------------------
# The result contract: what scoring writes and every later stage (report, statistics, compare,
# protocol diff, judge audit) reads. Versioned; written and read only through
# ``vleval.datasets.results`` (``write_rows``/``read_rows``/``write_score``/``read_score``).
# --------------------------------------------------------------------------------------------------
RESULT_SCHEMA = 1

# How a row's outcome was decided:
#   rule      matched by the protocol's rules (no judge call)
#   judge     decided by a judge answer
#   fallback  the protocol's fallback (the reference's random option after failed judge calls, or
#             'Z'/wrong when there is no judge): counted as censored by the statistics
#   failed    the judge call failed (network, auth, garbage): the benchmark is incomplete
#   unparsed  nothing could read an answer and no fallback applies (vleval-1, --judge none)
#   skipped   not examined, by the protocol's own logic (an MMBench rotation after its group failed)
DecidedBy = Literal["rule", "judge", "fallback", "failed", "unparsed", "skipped"]


# RowResult.extra key: why a thinking-mode reply is censored (models/internvl/thinking.py writes it,
# stats.core.is_censored reads it)
THINKING_CENSORED = "thinking_censored"


@dataclass
class RowResult:
    """One scored row of a benchmark (one line of ``<stem>_rows.jsonl``).

    ``unit`` names the scoring unit the headline aggregates (the MMBench circular group =
    index mod 1e6; the HallusionBench question group; the row itself elsewhere), so that statistics
    resample whole units. ``groups`` holds the other units a row belongs to for sub-scores (e.g.
    HallusionBench ``{"figure": ...}`` for fAcc). ``score`` is 1/0 for right/wrong rows and the graded
    value for graded families (MM-Vet 0-1, LLaVA-Bench's model score, OCRBench 1/0 points); None when
    the row was not scored (``skipped``).
    """

    index: int | str
    unit: str
    score: float | None
    decided_by: DecidedBy
    extracted: Any = None
    answer: Any = None
    prediction: str | None = None
    hit_token_limit: bool = False
    groups: dict[str, str] = field(default_factory=dict)
    category: str | None = None
    judge_log: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific values (e.g. LLaVA ref score)
    # the row's question and options as scoring read them (so the report, compare and the inspect logs
    # need not read the prediction file again); None / {} in rows written before they were recorded
    question: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    schema: int = RESULT_SCHEMA


@dataclass
class DecisionCounts:
    """How many rows were decided by each way, plus rows missing a prediction or cut by the token
    limit."""

    rule: int = 0
    judge: int = 0
    fallback: int = 0
    failed: int = 0
    unparsed: int = 0
    skipped: int = 0
    hit_token_limit: int = 0
    missing_predictions: int = 0
    total: int = 0


@dataclass
class JudgeInfo:
    """Which judge graded a result. ``kind``: 'api' (an OpenAI-compatible endpoint), 'local' (open
    weights loaded by vleval), 'none'. ``substitute``: not the protocol's own judge model, so the
    numbers are not the protocol's."""

    model: str
    kind: Literal["api", "local", "none"] = "api"
    endpoint: str | None = None  # base URL with credentials removed, or the local folder
    substitute: bool = False


@dataclass
class Interval:
    """A 95% (by default) interval on a score, in that score's scale (0-100; an OCRBench category's
    interval in points, as ``ScoreRecord.category_unit`` says)."""

    low: float
    high: float
    method: str  # e.g. "bootstrap over circular groups, 2000 resamples, seed 0"
    level: float = 0.95


# --------------------------------------------------------------------------------------------------
# The settings record: everything that can move a number, written once per scored benchmark (inside
# its ScoreRecord) by ``vleval run`` and ``vleval eval``, and read through ``vleval.settings`` only.
# --------------------------------------------------------------------------------------------------
SETTINGS_SCHEMA = 1

# What is known of the checkpoint that produced the predictions:
#   structure verified   every fact the registry records of the named model matches (config, tensor
#                        shapes' parameter count): no digest of the published weights is known
#   unverified           named like a registered model but not matching it, or unreadable
#   unregistered         a checkpoint folder not named like a registered model (nothing to check against)
#   None                 not recorded (a prediction file scored by `vleval eval`, an older vleval)
CheckpointStatus = Literal["structure verified", "unverified", "unregistered"]


@dataclass(frozen=True)
class EvalSettings:
    """How one benchmark's number was produced. ``None`` = not recorded (e.g. ``vleval eval`` on a
    prediction file made elsewhere). ``max_new_tokens``/``max_tiles`` None = the benchmark's own budget.
    A consumer never reads these by key: ``vleval.settings`` describes, compares and lists them."""

    protocol: str | None = None
    cot: bool | None = None
    prompt_style: str | None = None  # "default" or "mpo" (the -MPO models' prompt)
    max_new_tokens: int | None = None  # an override of the benchmark's budget
    max_tiles: int | None = None  # an override of the benchmark's tile budget
    judge: str | None = None  # the judge model that was used (None: none)
    judge_kind: str | None = None  # "api", "local", "none"
    protocol_judge: str | None = None  # the judge model the protocol names (None: a rule-based metric)
    judge_is_protocols: bool | None = None  # the judge used is the protocol's own
    rule_only: bool = False  # the protocol names a judge and it was not used (--judge none, no key)
    stand_in_judge: bool = False  # a deterministic local stand-in answered as the judge (the demo)
    verify_md5: bool | None = None  # the benchmark file's md5 was checked against the protocol's
    data_md5: str | None = None
    data_md5_matches: bool | None = None  # the benchmark file is the one the protocol pins
    dtype: str | None = None  # None: the backend's default (bfloat16, as the reference)
    attention: str | None = None  # None: auto
    backend: str | None = None
    batch_size: int | None = None
    seed: int | None = None
    vleval_version: str | None = None
    transformers_version: str | None = None
    torch_version: str | None = None
    checkpoint_digest: str | None = None
    checkpoint: CheckpointStatus | None = None
    checkpoint_problems: tuple[str, ...] = ()  # what differs from the registry's card
    synthetic_checkpoint: bool = False  # a random-weight checkpoint built by vleval.synthetic
    subset: str | None = None  # e.g. "first 50 rows" (--limit): not the benchmark's score
    thinking: bool | None = None  # an InternVL3.5 -Thinking entry (R1 system prompt, reasoning split off)
    temperature: float | None = None  # sampled decoding (None: greedy, as every non-thinking entry)
    top_p: float | None = None
    sampling_seeds: tuple[int, ...] = ()  # the seeds of a sampled run; several: the score is their mean
    schema: int = SETTINGS_SCHEMA


# --------------------------------------------------------------------------------------------------
# The run record: ``<work-dir>/<model>/run.json``, what a ``vleval run`` did (and what ``vleval eval``
# scored there) so a result can be traced and repeated. Versioned like the result contract; written and
# read only through ``vleval.workdir`` (``write_manifest``/``read_manifest``). A run.json without
# ``schema`` was written before the record was versioned and has the same layout (schema 1); one of a
# later schema is refused.
# --------------------------------------------------------------------------------------------------
MANIFEST_SCHEMA = 1


@dataclass(frozen=True)
class ManifestProtocol:
    name: str | None = None
    reference_commit: str | None = None


@dataclass(frozen=True)
class ManifestModel:
    """The checkpoint a run used. ``checkpoint``: ``vleval.models.verify``'s check (status, problems,
    synthetic, checked), None when not checked."""

    name: str | None = None
    repo_id: str | None = None
    path: str | None = None
    checkpoint_digest: str | None = None
    llm_family: str | None = None
    mpo: bool | None = None
    checkpoint: dict[str, Any] | None = None
    # a -Thinking entry's decoding (thinking, temperature, top_p, sampling_seeds); None: greedy
    sampling: dict[str, Any] | None = None


# Who made a benchmark's predictions: "run" (the `vleval run` of this record), "elsewhere" (a file
# `vleval eval` scored that no vleval run of this folder made: VLMEvalKit's, another tool's)
PredictionsBy = Literal["run", "elsewhere"]
# Who scored them last: "run", or "eval" (`vleval eval`, whose options are then in ``scoring``)
ScoredBy = Literal["run", "eval"]


@dataclass(frozen=True)
class ManifestScoring:
    """How ``vleval eval`` scored one benchmark of a model folder (the last time it did): its command
    (credentials removed), the judge asked for and the one used, the judge options (URL without
    credentials, never a key), its own options (seed, md5 check, partial scoring, benchmark folder),
    the versions that scored and when it finished."""

    command: list[str] = field(default_factory=list)
    judge_model: str | None = None  # the judge model that graded (None: rules only)
    judge_requested: str | None = None  # --judge as given (None: the protocol's)
    judge_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    finished: str | None = None  # %Y-%m-%dT%H:%M:%S%z


@dataclass(frozen=True)
class ManifestBenchmark:
    """One benchmark of a run. ``settings``: the options it ran with (benchmarks of one work dir may run
    with different ones); None in a run.json written before benchmarks recorded their own; ``{}`` for
    predictions made elsewhere (nothing is known of how). When ``vleval eval`` re-scores the run's own
    predictions, the inference fields (samples, settings, seconds' ``infer``) stay the run's and the
    scoring ones (headline, result files, notes, judge tally, ``scoring``) are the eval's."""

    tsv: str | None = None
    tsv_md5: str | None = None
    expected_md5: str | None = None
    samples: int | None = None
    inferred_this_run: int | None = None
    reused: int | None = None
    failed: int | None = None
    headline: float | None = None
    headline_name: str | None = None
    prediction_file: str | None = None
    result_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    incomplete: bool | None = None
    judge: dict[str, Any] | None = None  # the judge's tally: calls made, cache hits, failures, tokens
    seconds: dict[str, float] | None = None  # {"infer": ..., "eval": ...}
    estimate: dict[str, Any] | None = None  # what --dry-run estimated, beside ``seconds``
    settings: dict[str, Any] | None = None
    # added within schema 1 (absent in older files: read as None, i.e. made and scored by `vleval run`)
    predictions_by: PredictionsBy | None = None
    scored_by: ScoredBy | None = None
    prediction_md5: str | None = None  # the prediction file as it was scored
    prediction_bytes: int | None = None
    scoring: ManifestScoring | None = None  # `vleval eval`'s own record, when it scored this benchmark


@dataclass(frozen=True)
class RunManifest:
    """``<work-dir>/<model>/run.json``. ``settings`` are the run's options as recorded (URLs without
    credentials, never a key); ``versions`` the packages that ran; ``backend`` the backend's own
    description (None when no model was loaded)."""

    command: list[str] = field(default_factory=list)
    cwd: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    protocol: ManifestProtocol | None = None
    model: ManifestModel | None = None
    datasets: dict[str, ManifestBenchmark] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    stand_in_judge: bool = False  # the judge endpoint was a deterministic stand-in
    backend: dict[str, Any] | None = None
    world_size: int | None = None
    started: str | None = None  # %Y-%m-%dT%H:%M:%S%z
    finished: str | None = None
    seconds: float | None = None
    schema: int = MANIFEST_SCHEMA
    # added within schema 1: "eval" when `vleval eval` wrote the record (no `vleval run` in this folder:
    # then the top-level command, versions and times are the eval's); None/"run": `vleval run` did
    written_by: ScoredBy | None = None

    def benchmark(self, name: str) -> ManifestBenchmark | None:
        return self.datasets.get(name)

    def options_for(self, benchmark: str) -> dict[str, Any]:
        """The options ``benchmark`` ran with: its own entry's (``{}`` for predictions made elsewhere),
        else the run's (a run.json written before benchmarks recorded their own)."""
        entry = self.datasets.get(benchmark)
        if entry is not None and entry.settings is not None:
            return entry.settings
        return self.settings

    def provenance(self, benchmark: str) -> str:
        """Where ``benchmark``'s predictions and score come from, when not both from ``vleval run``
        (then ''): "predictions made elsewhere, scored by `vleval eval`" or "re-scored by `vleval eval`"."""
        entry = self.datasets.get(benchmark)
        if entry is None or entry.scored_by != "eval":
            return ""
        if entry.predictions_by == "elsewhere":
            return "predictions made elsewhere, scored by `vleval eval`"
        return "re-scored by `vleval eval`"


@dataclass
class RotationConsistency:
    """MMBench's option-order consistency (``vleval.stats.consistency``): of the questions right in at
    least one examined rotation, the share right in every rotation (0-100), with its interval."""

    value: float
    consistent: int  # questions right in every rotation
    right_somewhere: int  # questions right in at least one examined rotation
    questions: int  # questions with more than one rotation
    interval: Interval

    def text(self, digits: int = 2) -> str:
        return (
            f"rotation consistency {self.value:.{digits}f} [{self.interval.low:.{digits}f}, "
            f"{self.interval.high:.{digits}f}]: {self.consistent} of the {self.right_somewhere} questions right "
            f"in some rotation are right in all"
        )


@dataclass
class MultimodalGain:
    """MMStar's multi-modal gain MG = S_v - S_wv and leakage ML = max(0, S_wv - S_t) (Chen et al. 2024,
    ``vleval.stats.gain``), 0-100 scale, with paired intervals over the units answered every way."""

    with_images: float | None  # S_v
    without_images: float | None  # S_wv: the same checkpoint, text only
    gain: float | None  # MG
    gain_interval: Interval | None
    gain_test: str
    units: int
    gain_p_value: float | None = None
    llm_base: float | None = None  # S_t: the LLM base, text only (--llm-base)
    llm_base_model: str | None = None
    without_minus_base: float | None = None  # S_wv - S_t before the floor
    leakage: float | None = None  # ML
    leakage_interval: Interval | None = None
    leakage_test: str = ""
    leakage_p_value: float | None = None

    def text(self, digits: int = 2) -> str:
        def num(value: float | None) -> str:
            return "-" if value is None else f"{value:.{digits}f}"

        def span(found: Interval | None) -> str:
            return "" if found is None else f" [{found.low:.{digits}f}, {found.high:.{digits}f}]"

        out = (
            f"multi-modal gain MG {num(self.gain)}{span(self.gain_interval)} (with images {num(self.with_images)}, "
            f"without {num(self.without_images)}; {self.units} units)"
        )
        if self.llm_base is not None:
            out += (
                f"; multi-modal leakage ML {num(self.leakage)}{span(self.leakage_interval)} (without images "
                f"{num(self.without_images)}, LLM base {self.llm_base_model or ''} {num(self.llm_base)})"
            )
        else:
            out += "; multi-modal leakage: needs --llm-base"
        return out


@dataclass
class JudgeCalibration:
    """A score corrected by prediction-powered inference (``vleval judge-calibrate``,
    ``vleval.stats.ppi``): a cheap judge on every scoring unit, the protocol's judge on a seeded sample
    of them. ``corrected`` estimates the score the protocol's judge would give, with an interval that
    includes the cheap judge's error; it is never the protocol's figure (``label`` says what it is).
    Scores on the record's 0-100 scale."""

    local_judge: str  # model id of the judge on every unit
    protocol_judge: str  # model id of the protocol's judge, asked on the sample only
    sampled_units: int
    total_units: int
    sampled_rows: int
    total_rows: int
    local_score: float  # the cheap judge's score on every unit (the record's headline)
    corrected: float
    interval: Interval
    sample_score: float  # the protocol judge's score on the sample alone
    sample_interval: Interval  # its classical interval (the sample alone)
    full_run_half_width: float  # about the half-width a full protocol-judge run would give (projected)
    effective_units: float | None  # protocol-judged units the PPI estimate is worth (var(Y) / var(PPI))
    seed: int
    strata: int  # categories the sample was stratified by (1: none)
    method: str

    @property
    def label(self) -> str:
        return (
            f"local judge, PPI-corrected against {self.protocol_judge} on {self.sampled_units} of "
            f"{self.total_units} {'units' if self.total_units != self.total_rows else 'rows'}"
        )


@dataclass
class Subset:
    """A ``--limit N`` run: the first ``questions`` scoring units of the benchmark's ``of_questions``
    (an MMBench circular group, a HallusionBench question set, a CRPE block of rotations count as one
    question and are kept whole), ``rows`` of its ``of_rows`` rows. Its score is not comparable to
    published figures (``vleval.report.format.caveat`` says so wherever it is shown)."""

    limit: int
    questions: int
    of_questions: int
    rows: int
    of_rows: int


@dataclass
class ScoreRecord:
    """vleval's summary of one scored benchmark (``<stem>_score.json``, or ``<stem>_vleval.json``
    where the reference itself writes a ``_score.json``).

    ``headline`` is on the 0-100 scale the report, the console table and ``summary.*`` all show
    (fractions x100, OCRBench Final Score / 10, HallusionBench mean of aAcc/fAcc/qAcc).
    ``metrics`` are the reported sub-scores on the same scale. ``complete`` is False when judge calls
    failed or predictions are missing: such a number is not a score.
    """

    dataset: str
    protocol: str
    headline_name: str
    headline: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: DecisionCounts = field(default_factory=DecisionCounts)
    judge: JudgeInfo | None = None
    complete: bool = True
    partial: bool = False  # scored with --allow-partial: rows without predictions left out
    # 'headline', 'headline:exact', a metric name, or 'category:<name>' (a ``categories`` value) -> interval
    intervals: dict[str, Interval] = field(default_factory=dict)
    bounds: tuple[float, float] | None = None  # headline if every censored row were wrong ... right
    reference_files: list[str] = field(default_factory=list)  # names of the reference's result files
    notes: list[str] = field(default_factory=list)
    seed: int | None = None
    headline_unit: str = ""  # how the 0-100 headline is made from the reference's number
    # the reference's own numbers under its own names and scale (e.g. {"Final Score": 822.0})
    native: dict[str, float] = field(default_factory=dict)
    # per-category values for the report's charts, in ``category_unit`` ('%' = 0-100, or 'points')
    categories: dict[str, float] = field(default_factory=dict)
    category_unit: str = "%"
    # indices of rows whose text was cut at the xlsx cell limit (32,767 characters) in a result or
    # prediction xlsx; ``_rows.jsonl`` keeps the text scoring saw in full
    truncated_in_xlsx: list[str] = field(default_factory=list)
    # set by ``vleval judge-calibrate`` on the record of the cheap judge's scoring (its headline): the
    # PPI-corrected estimate against the protocol's judge on a sample; not the protocol's figure
    judge_calibration: JudgeCalibration | None = None
    # circular benchmarks (MMBench): how often a question right in one rotation is right in all
    rotation_consistency: RotationConsistency | None = None
    # MMStar with --mmstar-gain: multi-modal gain and leakage beside the accuracy
    multimodal_gain: MultimodalGain | None = None
    subset: Subset | None = None  # scored on the first questions only (--limit): not comparable
    # how the number was produced (``vleval.settings``); None in records of an older vleval
    settings: EvalSettings | None = None
    schema: int = RESULT_SCHEMA
