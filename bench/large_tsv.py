"""Loading a benchmark file of real size: time to the first sample and peak memory, vleval against the
reference's whole-file pandas load.

    python bench/large_tsv.py                      # builds /tmp/vleval-large-tsv/MMBench_DEV_EN_V11.tsv
    python bench/large_tsv.py --size-gb 1.5 --dir /scratch/x --delete

A real MMBench or CRPE file is hundreds of MB, nearly all of it base64 images. The script writes once
(reused on later runs; never committed) an MMBench-format TSV of ``--size-gb`` gigabytes whose images
are JPEGs of realistic size (640 x 480 to 1024 x 768, 55-145 KB of base64 each, as MMBench's are), then measures,
each in a fresh process:

- ``reference``: ``pd.read_csv(path, sep='\\t')`` (what VLMEvalKit's ``load`` does for a TSV), then the
  first row's image decoded (its ``build_prompt`` decodes it to write the image file);
- ``vleval``: ``load_samples`` (the same table, rows typed, images kept as their base64 text) and the
  first sample's images; then ``--pass`` more samples decoded and released one batch at a time as the
  runner does, to show the decoded images do not accumulate;
- ``vleval resumed``: the same, with every sample but the last ``--pass`` treated as already done:
  they are keyed by their image bytes and never decoded (``image_content_digests``).

Each line: seconds to the first sample, seconds for the pass, the number of images decoded, and the
process's peak RSS. Results go in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

NAME = "MMBench_DEV_EN_V11"
SIZES = ((640, 480), (800, 600), (1024, 768), (720, 540))


def _images(count: int, seed: int) -> list[str]:
    """Distinct base64 JPEGs of realistic size: smooth colour fields plus noise, quality 85."""
    import base64

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        w, h = SIZES[k % len(SIZES)]
        base = rng.integers(0, 256, size=(h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
        field = np.kron(base, np.ones((16, 16, 1), dtype=np.uint8))[:h, :w]
        noise = rng.integers(-10, 10, size=(h, w, 3))
        pixels = np.clip(field.astype(int) + noise, 0, 255).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=85)
        out.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return out


def build(path: Path, size_gb: float, seed: int = 0) -> int:
    """Write the TSV (plain text writes: pandas would need the whole file in memory); returns rows."""
    target = int(size_gb * 1024**3)
    images = _images(48, seed)
    rng = random.Random(seed)
    header = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "split",
              "image"]  # fmt: skip
    part = path.with_suffix(".part")
    written, rows = 0, 0
    with part.open("w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(header) + "\n")
        while written < target:
            image = images[rng.randrange(len(images))]
            letter = "ABCD"[rng.randrange(4)]
            line = "\t".join([str(rows), f"Which option describes picture {rows}?", "Look closely.",
                              "a cat", "a dog", "a car", "a tree", letter, "attribute_recognition",
                              "finegrained_perception (instance-level)", "dev", image]) + "\n"  # fmt: skip
            out.write(line)
            written += len(line)
            rows += 1
    part.replace(path)
    return rows


# --------------------------------------------------------------------------------------------------
# measurements, each in its own process (peak RSS is per process)
# --------------------------------------------------------------------------------------------------
def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(kind: str, folder: Path, passes: int) -> dict:
    started = time.perf_counter()
    decoded = 0
    if kind == "reference":
        import base64

        import pandas as pd
        from PIL import Image

        data = pd.read_csv(folder / f"{NAME}.tsv", sep="\t")
        image = Image.open(io.BytesIO(base64.b64decode(data["image"][0])))
        image.load()
        decoded = 1
        first = time.perf_counter() - started
        return {"mode": kind, "rows": len(data), "first_s": first, "pass_s": None, "decoded": decoded,
                "peak_rss_mib": _peak_rss_mib()}  # fmt: skip

    from vleval.datasets.loading import Base64Images, load_samples
    from vleval.datasets.registry import get_benchmark
    from vleval.protocol import get_protocol
    from vleval.runner.infer import image_content_digests

    calls = 0
    original = Base64Images.__call__

    def counting(self):  # counts decodes without changing them
        nonlocal calls
        calls += len(self.payloads)
        return original(self)

    Base64Images.__call__ = counting
    samples = load_samples(get_benchmark(NAME), get_protocol(), folder, verify_md5=False)
    if kind == "vleval resumed":  # what the runner does first: key every sample by its image bytes
        for sample in samples:
            image_content_digests(sample)
        todo = samples[-passes:]
    else:
        todo = samples[:passes]
    todo[0].images  # noqa: B018 - the first sample's images, decoded
    first = time.perf_counter() - started
    pass_started = time.perf_counter()
    for k in range(0, len(todo), 16):  # the runner's batches: decoded, used, released
        batch = todo[k : k + 16]
        for sample in batch:
            assert all(image.size[0] > 0 for image in sample.images)
        for sample in batch:
            sample._images = None
    decoded = calls
    return {"mode": kind, "rows": len(samples), "first_s": first, "pass_s": time.perf_counter() - pass_started,
            "decoded": decoded, "peak_rss_mib": _peak_rss_mib()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/vleval-large-tsv"))
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument(
        "--pass", dest="passes", type=int, default=256, help="samples decoded after the first"
    )
    parser.add_argument("--delete", action="store_true", help="delete the TSV afterwards")
    parser.add_argument(
        "--measure", choices=["reference", "vleval", "vleval resumed"], help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(args.measure, args.dir, args.passes)))
        return 0

    path = args.dir / f"{NAME}.tsv"
    args.dir.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.stat().st_size < args.size_gb * 1024**3 * 0.99:
        t = time.perf_counter()
        rows = build(path, args.size_gb)
        print(
            f"built {path}: {rows:,} rows, {path.stat().st_size / 1024**3:.2f} GiB in {time.perf_counter() - t:.0f} s"
        )
    size = path.stat().st_size / 1024**3
    print(
        f"{path}: {size:.2f} GiB; {platform.node()}, {os.cpu_count()} CPUs, python {platform.python_version()}"
    )
    print(
        f"{'mode':<16} {'rows':>7} {'first sample s':>15} {'pass s':>7} {'decoded':>8} {'peak RSS MiB':>13}"
    )
    for mode in ("reference", "vleval", "vleval resumed"):
        out = subprocess.run([sys.executable, __file__, "--dir", str(args.dir), "--pass", str(args.passes),
                              "--measure", mode], capture_output=True, text=True, check=True)  # fmt: skip
        r = json.loads(out.stdout.strip().splitlines()[-1])
        pass_s = "-" if r["pass_s"] is None else f"{r['pass_s']:.1f}"
        print(f"{mode:<16} {r['rows']:>7,} {r['first_s']:>15.1f} {pass_s:>7} {r['decoded']:>8,} "
              f"{r['peak_rss_mib']:>13,.0f}")  # fmt: skip
    if args.delete:
        path.unlink()
        print(f"deleted {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
