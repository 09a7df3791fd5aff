"""Large benchmark files: an image is decoded only when its sample is inferred, never on load and never
for a sample a resumed run reuses (bench/large_tsv.py measures the same at 1 GB)."""

from __future__ import annotations

from vleval.datasets import loading
from vleval.datasets.loading import load_samples
from vleval.datasets.registry import get_benchmark
from vleval.protocol import get_protocol
from vleval.runner.run import RunConfig, run_evaluation
from vleval.types import Prediction


class DecodeCounter:
    """Wraps ``loading.decode_image`` (what every sample's image loader calls) and counts calls."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = loading.decode_image

        def counting(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(loading, "decode_image", counting)


class Answers:
    """A backend answering 'A', failing the rows in ``fail`` (as an out-of-memory row fails)."""

    def __init__(self, fail=frozenset()):
        self.fail = set(fail)

    def generate(self, requests):
        return [
            Prediction(r.dataset, r.index, "", error="RuntimeError out of memory (simulated)")
            if r.index in self.fail
            else Prediction(r.dataset, r.index, "A", raw="A", tiles=(1,))
            for r in requests
        ]

    def close(self):
        pass


def test_loading_decodes_no_image_until_a_sample_uses_it(bench_dir, monkeypatch):
    counter = DecodeCounter(monkeypatch)
    samples = load_samples(get_benchmark("MMStar"), get_protocol(), bench_dir, verify_md5=False)
    assert counter.calls == 0
    assert samples[2].images and counter.calls == len(samples[2].images)


def test_a_resumed_run_never_decodes_the_images_of_reused_samples(
    tiny_model, bench_dir, tmp_path, monkeypatch
):
    def config(backend):
        return RunConfig(models=[str(tiny_model)], datasets=["MMStar"], work_dir=tmp_path, data_dir=bench_dir,
                         verify_md5=False, max_new_tokens=8, judge="none", device="cpu", batch_size=2,
                         progress_bar=False, backend_factory=lambda path, kwargs: backend)  # fmt: skip

    samples = load_samples(get_benchmark("MMStar"), get_protocol(), bench_dir, verify_md5=False)
    failing = {samples[1].index, samples[4].index}
    run_evaluation(config(Answers(fail=failing)))  # every row but two done
    counter = DecodeCounter(monkeypatch)
    run_evaluation(config(Answers()))  # resumes: only the two failed rows are inferred again
    assert counter.calls == sum(len(s.image_loader.payloads) for s in samples if s.index in failing)
