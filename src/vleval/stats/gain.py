"""MMStar's multi-modal gain and leakage (Chen et al., "Are We on the Right Way for Evaluating Large
Vision-Language Models?", arXiv 2403.20330, section 4.2):

    MG = S_v - S_wv            the score with the images minus the same model's score without them
    ML = max(0, S_wv - S_t)    the score without images minus its LLM base's (text only), floored at 0

on the same benchmark units, answered three ways (with images, without, and by the LLM base without).
Each difference gets the paired bootstrap interval of ``vleval.stats.core.paired_comparison`` (the same
units drawn for both sides, a unit never split) and, for right/wrong units, exact McNemar's p-value;
ML's interval is the difference's interval floored at 0 as ML itself is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vleval.stats.core import paired_comparison
from vleval.types import Interval, MultimodalGain, RowResult

Statistic = Callable[[Sequence[RowResult]], float | None]


def multimodal_gain(
    with_images: Sequence[RowResult],
    without_images: Sequence[RowResult],
    llm_base: Sequence[RowResult] | None,
    statistic: Statistic,
    *,
    llm_base_name: str | None = None,
    seed: int = 0,
) -> MultimodalGain:
    """MG and (with ``llm_base``'s rows) ML on the units all the given passes scored (module doc)."""
    indices = {str(r.index) for r in with_images} & {str(r.index) for r in without_images}
    if llm_base is not None:
        indices &= {str(r.index) for r in llm_base}

    def common(rows: Sequence[RowResult]) -> list[RowResult]:
        return [r for r in rows if str(r.index) in indices]

    v, wv = common(with_images), common(without_images)
    gain = paired_comparison(wv, v, statistic, seed=seed)  # B - A = S_v - S_wv
    out = MultimodalGain(
        with_images=gain.b,
        without_images=gain.a,
        gain=gain.difference,
        gain_interval=gain.interval,
        gain_test=gain.test.replace("only in A", "only without images").replace(
            "only in B", "only with images"
        ),
        units=gain.n_units,
        gain_p_value=gain.p_value,
    )
    if llm_base is not None:
        leak = paired_comparison(common(llm_base), wv, statistic, seed=seed)  # S_wv - S_t
        out.llm_base = leak.a
        out.llm_base_model = llm_base_name
        out.without_minus_base = leak.difference
        out.leakage = None if leak.difference is None else max(0.0, leak.difference)
        if leak.interval is not None:
            out.leakage_interval = Interval(
                max(0.0, leak.interval.low), max(0.0, leak.interval.high),
                leak.interval.method + "; floored at 0 as ML is", leak.interval.level,
            )  # fmt: skip
        out.leakage_test = leak.test.replace("only in A", "only by the LLM base").replace(
            "only in B", "only without images"
        )
        out.leakage_p_value = leak.p_value
    return out
