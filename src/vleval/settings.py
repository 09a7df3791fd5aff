"""The one reader and describer of the settings record (``vleval.types.EvalSettings``): what can move a
number, how each setting is shown, which differ between two results and which are not the defaults.

Writers: ``vleval run`` (``vleval.runner.manifest.eval_settings``) and ``vleval eval`` hand a partial
record to scoring, which completes what only scoring knows (the judge used, rule-only) and stores it
in the benchmark's ``ScoreRecord.settings``. Readers (report, summary, verdicts, ``vleval compare``)
call ``settings_of``; none of them names a key of ``run.json`` or of the record: ``SETTINGS``
below is the one table of labels, and ``differences``/``non_defaults``/``marks`` are computed from it.
Records written by an older vleval (no ``settings`` in the score record) are read from ``run.json``
as that version laid it out (``legacy_settings``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vleval.errors import DataCorruptError
from vleval.types import (
    SETTINGS_SCHEMA,
    EvalSettings,
    ManifestBenchmark,
    ManifestModel,
    RunManifest,
    ScoreRecord,
    Subset,
)

NOT_RECORDED = "not recorded"
RULE_ONLY_MARK = "rule-only: the protocol's judge was not used"
UNVERIFIED_MARK = "unverified checkpoint"
SYNTHETIC_MARK = "synthetic random-weight checkpoint"
STAND_IN_MARK = "stand-in judge"


def _on_off(value: Any) -> str:
    return {True: "on", False: "off"}.get(value, NOT_RECORDED)


def _budget(value: Any) -> str:
    return "the benchmark's own" if value is None else str(value)


def _plain(value: Any) -> str:
    return NOT_RECORDED if value is None else str(value)


def _decoding(settings: EvalSettings) -> str:
    if settings.temperature is None:  # every entry but the thinking ones decodes greedily
        return "greedy"
    top_p = "" if settings.top_p is None else f", top_p {settings.top_p:g}"
    return f"sampled at temperature {settings.temperature:g}{top_p}"


def _seeds(value: Any) -> str:
    seeds = tuple(value or ())
    if not seeds:
        return "none"
    return f"{len(seeds)} ({', '.join(map(str, seeds))})"


def _judge_used(settings: EvalSettings) -> str:
    if settings.rule_only:
        return "rule-only (the protocol's judge was not used)"
    if settings.protocol_judge is None:
        return "rule-based metric"
    return "the protocol's judge" if settings.judge_is_protocols else "another judge"


@dataclass(frozen=True)
class Setting:
    """One setting as every consumer shows it. ``decisive``: two results that differ in it are not
    the same experiment (``vleval compare`` refuses them without --allow-different-settings; the
    report never merges them); ``default``: the value a run has unless asked otherwise (None: every
    value is ordinary, e.g. versions), shown among the non-default settings when it differs."""

    field: str
    label: str
    text: Callable[[Any], str] = _plain
    decisive: bool = False
    default: Any = None
    whole: bool = False  # text() takes the whole record rather than the field's value

    def shown(self, settings: EvalSettings) -> str:
        return self.text(settings if self.whole else getattr(settings, self.field))

    def is_default(self, settings: EvalSettings) -> bool:
        value = getattr(settings, self.field)
        return self.default is None or value is None or value == self.default


SETTINGS: tuple[Setting, ...] = (
    Setting("protocol", "protocol", decisive=True),
    Setting("cot", "CoT", _on_off, decisive=True, default=False),
    Setting("prompt_style", "prompt style"),
    Setting("max_new_tokens", "token budget", _budget, default=-1),  # any override is not the default
    Setting("max_tiles", "tile budget", _budget, default=-1),
    Setting("judge", "judge", lambda v: v or "none"),
    Setting("judge_kind", "judge kind"),
    Setting("rule_only", "judge used", _judge_used, decisive=True, default=False, whole=True),
    Setting("stand_in_judge", "stand-in judge", lambda v: "yes" if v else "no", decisive=True, default=False),
    Setting("verify_md5", "md5 check", _on_off, default=True),
    Setting("data_md5", "benchmark file md5", decisive=True),
    Setting("dtype", "dtype", lambda v: v or "the backend's default (bfloat16)", default="bfloat16"),
    Setting("attention", "attention kernel", lambda v: v or "auto", default="auto"),
    Setting("backend", "backend", default="hf"),
    Setting("batch_size", "batch size"),
    Setting("seed", "seed", default=0),
    Setting("vleval_version", "vleval"),
    Setting("transformers_version", "transformers"),
    Setting("torch_version", "torch"),
    Setting("checkpoint_digest", "checkpoint digest", lambda v: NOT_RECORDED if not v else str(v)[:12]),
    Setting("checkpoint", "checkpoint", lambda v: v or "not checked", default="structure verified"),
    Setting(
        "synthetic_checkpoint",
        "synthetic checkpoint",
        lambda v: "yes" if v else "no",
        decisive=True,
        default=False,
    ),  # fmt: skip
    Setting("subset", "subset", lambda v: v or "all rows", decisive=True, default=""),
    # thinking mode and sampled decoding (models.internvl.thinking, runner.seeds): None is what every
    # record written before them means (no thinking entry could run then)
    Setting("thinking", "thinking mode", lambda v: "on" if v else "off", decisive=True, default=False),
    Setting("temperature", "decoding", _decoding, decisive=True, default=0.0, whole=True),
    Setting("sampling_seeds", "sampling seeds", _seeds, default=()),
)


def _not_default(setting: Setting, settings: EvalSettings) -> bool:
    value = getattr(settings, setting.field)
    if setting.default == -1:  # a budget: any override
        return value is not None
    if setting.default == "":  # a marker: any value
        return bool(value)
    return not setting.is_default(settings)


# --------------------------------------------------------------------------------------------------
# JSON (inside the score record) and the reader
# --------------------------------------------------------------------------------------------------
def settings_json(settings: EvalSettings) -> dict[str, Any]:
    out = dataclasses.asdict(settings)
    out["checkpoint_problems"] = list(settings.checkpoint_problems)
    out["sampling_seeds"] = list(settings.sampling_seeds)
    return out


def settings_from_json(data: Mapping[str, Any], where: str = "score record") -> EvalSettings:
    """The record as written; keys of a later minor addition are ignored, a later schema refused."""
    if not isinstance(data, Mapping):
        raise DataCorruptError(f"{where}: 'settings' is not an object; re-score with `vleval eval`.")
    schema = data.get("schema", SETTINGS_SCHEMA)
    if not isinstance(schema, int) or schema > SETTINGS_SCHEMA:
        raise DataCorruptError(
            f"{where}: settings schema {schema!r}, this vleval reads schema {SETTINGS_SCHEMA}; "
            "upgrade vleval to read it."
        )
    known = {f.name for f in dataclasses.fields(EvalSettings)}
    values = {k: v for k, v in data.items() if k in known}
    problems = values.get("checkpoint_problems")
    values["checkpoint_problems"] = tuple(str(p) for p in problems) if isinstance(problems, list) else ()
    seeds = values.get("sampling_seeds")
    values["sampling_seeds"] = _seed_tuple(seeds)
    values["schema"] = SETTINGS_SCHEMA
    return EvalSettings(**values)


def legacy_settings(run: RunManifest | None, benchmark: str, record: ScoreRecord | None) -> EvalSettings:
    """What an older vleval's run record (``vleval.types.RunManifest``: its options, versions, model and
    benchmark entry) and score record say, for results written before the settings record existed (or
    by VLMEvalKit: then little)."""
    run = run or RunManifest()
    data = run.datasets.get(benchmark) or ManifestBenchmark()
    if data.predictions_by == "elsewhere":  # `vleval eval` of another tool's predictions: the run's model,
        run = RunManifest(protocol=run.protocol)  # options and marks say nothing of them
    options = run.options_for(benchmark)
    model = run.model or ManifestModel()
    protocol = run.protocol.name if run.protocol is not None else None
    if record is not None and record.protocol:
        protocol = record.protocol
    found_md5, expected_md5 = data.tsv_md5, data.expected_md5
    judge = record.judge if record is not None else None
    cot = options.get("cot")
    check = model.checkpoint or {}
    sampling = model.sampling or {}  # a -Thinking entry's run
    seeds = sampling.get("sampling_seeds")
    return EvalSettings(
        protocol=None if protocol is None else str(protocol),
        cot=cot if isinstance(cot, bool) else None,
        prompt_style=None if model.mpo is None else ("mpo" if model.mpo else "default"),
        max_new_tokens=options.get("max_new_tokens"),
        judge=judge.model if judge is not None else None,
        judge_kind=judge.kind if judge is not None else None,
        judge_is_protocols=None if judge is None else not judge.substitute,
        verify_md5=options.get("verify_md5"),
        data_md5=found_md5 or expected_md5,
        data_md5_matches=None if not found_md5 or not expected_md5 else found_md5 == expected_md5,
        dtype=options.get("dtype") or ("float32" if options.get("device") == "cpu" else None),
        attention=options.get("attention"),
        backend=options.get("backend"),
        batch_size=options.get("batch_size"),
        seed=options.get("seed"),
        vleval_version=run.versions.get("vleval"),
        transformers_version=run.versions.get("transformers"),
        torch_version=run.versions.get("torch"),
        checkpoint_digest=model.checkpoint_digest,
        checkpoint=check.get("status"),
        checkpoint_problems=tuple(str(p) for p in check.get("problems") or ()),
        synthetic_checkpoint=bool(check.get("synthetic")),
        # the run's stand-in judge answered its own scoring, not a later `vleval eval`'s
        stand_in_judge=run.stand_in_judge and data.scored_by != "eval",
        thinking=sampling.get("thinking") if isinstance(sampling.get("thinking"), bool) else None,
        temperature=_float_or_none(sampling.get("temperature")),
        top_p=_float_or_none(sampling.get("top_p")),
        sampling_seeds=_seed_tuple(seeds),
    )


def _seed_tuple(value: Any) -> tuple[int, ...]:
    return tuple(s for s in value if isinstance(s, int)) if isinstance(value, list) else ()


def _float_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def settings_of(
    record: ScoreRecord | None, run: RunManifest | None = None, benchmark: str = ""
) -> EvalSettings:
    """THE reader: the record's own settings; what it left unrecorded (a prediction file scored by
    ``vleval eval``, a record of an older vleval) from the run record (``run.json``) beside it."""
    legacy = legacy_settings(run, benchmark or (record.dataset if record else ""), record)
    if record is None or record.settings is None:
        return legacy
    own = record.settings
    missing = {f.name: getattr(legacy, f.name) for f in dataclasses.fields(EvalSettings)
               if getattr(own, f.name) is None and getattr(legacy, f.name) is not None}  # fmt: skip
    sticky_marks = ["synthetic_checkpoint", "checkpoint_problems"]  # marks of the run stay on its results
    if own.judge is not None:  # the run's stand-in judge, when this result was judged (not re-scored without)
        sticky_marks.append("stand_in_judge")
    for sticky in sticky_marks:
        if getattr(legacy, sticky) and not getattr(own, sticky):
            missing[sticky] = getattr(legacy, sticky)
    return dataclasses.replace(own, **missing) if missing else own


# --------------------------------------------------------------------------------------------------
# completing a record at scoring time
# --------------------------------------------------------------------------------------------------
def scored_settings(
    base: EvalSettings | None, record: ScoreRecord, protocol_judge: str | None
) -> EvalSettings:
    """``base`` (what the caller knows: options, versions, checkpoint) completed with what scoring
    knows: the protocol, the judge used and whether the protocol names one that was not used."""
    from vleval import __version__

    base = base or EvalSettings()
    judge = record.judge
    return dataclasses.replace(
        base,
        protocol=record.protocol or base.protocol,
        judge=judge.model if judge is not None else None,
        judge_kind=judge.kind if judge is not None else "none",
        protocol_judge=protocol_judge,
        judge_is_protocols=None if judge is None else not judge.substitute,
        rule_only=protocol_judge is not None and judge is None,
        vleval_version=base.vleval_version or __version__,
        subset=(
            f"{record.subset.questions}/{record.subset.of_questions} questions"
            if record.subset is not None
            else base.subset
        ),
    )


# --------------------------------------------------------------------------------------------------
# what consumers show
# --------------------------------------------------------------------------------------------------
def marks(settings: EvalSettings | None) -> list[str]:
    """What a number must carry wherever it is shown: it is not what its name suggests."""
    if settings is None:
        return []
    out = []
    if settings.checkpoint == "unverified":
        out.append(UNVERIFIED_MARK)
    if settings.synthetic_checkpoint:
        out.append(SYNTHETIC_MARK)
    if settings.rule_only:
        out.append(RULE_ONLY_MARK)
    if settings.stand_in_judge:
        out.append(STAND_IN_MARK)
    # a subset (--limit) is said by ``report.format.caveat`` from the record's own ``subset``
    return out


def subset_text(subset: Subset) -> str:
    """How a ``--limit`` score is marked everywhere it is shown."""
    return f"subset of {subset.questions}/{subset.of_questions}: not comparable to published figures"


def comparable_with_published(settings: EvalSettings | None) -> bool:
    """A number from a checkpoint that is not the named model, or from the first questions only
    (``--limit``), is never set beside the model's published figure nor given a reproduction verdict."""
    return settings is None or not (
        settings.synthetic_checkpoint or settings.checkpoint == "unverified" or settings.subset
    )


def non_defaults(settings: EvalSettings, skip: Sequence[str] = ()) -> list[str]:
    """``token budget 32``-style lines for every setting that is not what a plain run uses (but those
    labelled in ``skip``, which the caller shows itself)."""
    return [
        f"{s.label} {s.shown(settings)}"
        for s in SETTINGS
        if s.label not in skip and _not_default(s, settings)
    ]


@dataclass(frozen=True)
class Difference:
    label: str
    a: str
    b: str
    decisive: bool


def differences(a: EvalSettings, b: EvalSettings, *, decisive: bool | None = None) -> list[Difference]:
    """Every setting shown differently for ``a`` and ``b`` (only the decisive ones, or only the others,
    when ``decisive`` says so)."""
    out = []
    for setting in SETTINGS:
        if decisive is not None and setting.decisive != decisive:
            continue
        shown_a, shown_b = setting.shown(a), setting.shown(b)
        if shown_a != shown_b:
            out.append(Difference(setting.label, shown_a, shown_b, setting.decisive))
    return out


def same_except(a: EvalSettings, b: EvalSettings, *labels: str) -> bool:
    """Whether ``a`` and ``b`` differ only in the named settings (and in versions and batch size,
    which do not make another experiment)."""
    ignored = {*labels, "vleval", "transformers", "torch", "batch size", "judge kind"}
    return all(d.label in ignored for d in differences(a, b))


def distinguishing(all_settings: Sequence[EvalSettings]) -> list[str]:
    """For results of one model and benchmark made differently: per result, the settings in which
    the results differ (e.g. ``CoT on · token budget 32``), so that each can be labelled by them."""
    labels = [s for s in SETTINGS if len({s.shown(x) for x in all_settings}) > 1 and s.label != "judge kind"]
    if any(s.label == "judge used" for s in labels):  # rule-only against judged: that says it all
        labels = [s for s in labels if s.label not in ("judge", "stand-in judge")]
    return [" · ".join(f"{s.label} {s.shown(x)}" for s in labels) for x in all_settings]


def describe(settings: EvalSettings) -> str:
    """One line for a run: CoT, judge, protocol, version, then what is not the default."""
    head = [
        f"CoT {_on_off(settings.cot) if settings.cot is not None else '?'}",
        f"judge {settings.judge or ('none' if settings.judge_kind == 'none' or settings.rule_only else '?')}",
        f"protocol {settings.protocol or '?'}",
        f"vleval {settings.vleval_version or '?'}",
    ]
    return " · ".join(head + non_defaults(settings, skip=("CoT", "protocol")))
