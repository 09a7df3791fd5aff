"""Parity of vleval with the reference toolkit (VLMEvalKit's InternVL wrapper + InternVL's model code).

    python bench/parity_reference.py --python /path/to/ref-venv/bin/python \\
        --vlmevalkit 2024.12=/src/VLMEvalKit-b13a37db --vlmevalkit 2026.08=/src/VLMEvalKit-e8e78f05 \\
        --internvl /src/InternVL --work /tmp/parity-work

Builds tiny random-weight checkpoints (by default InternVL2.5's two LLM families, plain and -MPO;
``--models`` adds InternVL3 and InternVL3.5 ones, plain, -Thinking and GPT-OSS, compared under 2026.08 only) and
synthetic files for the benchmarks through ``vleval.synthetic`` with seeds that the test suite does not
use, then runs

- vleval: ``python -m vleval run --mode infer --save-prompts`` on the checkpoints as built;
- the reference: a worker process started with ``--python`` (an interpreter where the given VLMEvalKit
  checkout imports, with a transformers that InternVL's remote code supports, e.g. 4.46.3) that loads
  a copy of each checkpoint holding InternVL's modeling files (``--internvl``: a checkout of
  OpenGVLab/InternVL, or a folder with the files as an HF checkpoint ships them) through
  ``InternVLChat`` with ``trust_remote_code``, and walks VLMEvalKit's own dataset classes the way its
  ``infer_data`` does (``use_custom_prompt`` -> ``build_prompt`` -> ``generate``);

for each protocol (and its VLMEvalKit checkout), CoT off and on, and compares per sample the full
templated query (image placeholders expanded), the tiles per image and the prediction. A -Thinking
checkpoint samples: the worker seeds torch before each row with the seed vleval's hf backend uses for
that row (run it with ``--batch-size 1``), so both sides draw the same numbers. InternVL3.5's model code
needs a transformers with Qwen3 and GPT-OSS (4.55); InternVL2.5/3's GitHub code fails to build its
config there, so run those with a 4.46.3 interpreter (two invocations). Prints a table
(dataset x variant: samples, prompts / tiles / predictions equal), writes ``summary.json`` and
``mismatches.jsonl`` under ``--work``, and exits 1 when a compared sample differs (rows the reference
itself fails on are listed, not failed). See bench/PARITY.md.

The reference worker (``--worker``) imports nothing from vleval, so the reference interpreter does not
need vleval installed. Without a GPU both sides run on the CPU (``.cuda()`` becomes a no-op in the
worker); both sides use bfloat16 weights, as VLMEvalKit loads them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = (
    "MMBench_TEST_EN_V11",
    "MMBench_DEV_EN_V11",
    "MMStar",
    "MMMU_DEV_VAL",
    "MathVista_MINI",
    "HallusionBench",
    "AI2D_TEST",
    "OCRBench",
    "MMVet",
    "LLaVABench",
    "CRPE_EXIST",
    "CRPE_RELATION",
    # issue 21: open-ended VQA
    "ChartQA_TEST",
    "TextVQA_VAL",
    "DocVQA_VAL",
    "InfoVQA_VAL",
    # issue 21: multiple choice and yes/no
    "MMBench_TEST_CN_V11",
    "MMBench_DEV_CN_V11",
    "RealWorldQA",
    "ScienceQA_TEST",
    "SEEDBench_IMG",
    "SEEDBench2_Plus",
    "MMT-Bench_VAL",
    "BLINK",
    "MME",
    "POPE",
)
# Checkpoint folder name -> (LLM family, MPO, InternVL generation, the reference's extra wrapper kwargs).
# The runner derives the MPO prompt flag from "MPO" in a folder's name, and a folder named like a registry
# card keeps that card (vleval.runner.targets.card_from_checkpoint): "InternVL3_5-1B-Thinking" is run in
# thinking mode. The reference gets use_mpo_prompt and the kwargs of VLMEvalKit e8e78f05's config.py entry
# of the same name (InternVL3-*, InternVL3_5-*: version="V2.0" only; the -Thinking entries add
# cot_prompt_version="r1", do_sample=True; their use_lmdeploy=True is an engine choice this worker
# cannot make: it runs the wrapper's transformers path). max_new_tokens is --max-new-tokens on both sides.
MODELS = {
    "tiny-qwen2": ("qwen2", False, "2.5", {}),
    "tiny-qwen2-MPO": ("qwen2", True, "2.5", {}),
    "tiny-internlm2": ("internlm2", False, "2.5", {}),
    "tiny-internlm2-MPO": ("internlm2", True, "2.5", {}),
    # issue 23: InternVL3 (Qwen2.5 LLM: the qwen2 layout, InternVL2.5's model code) and InternVL3.5
    # (Qwen3 dense and MoE: internvl_chat_gpt_oss's model code); protocol 2026.08 only
    "InternVL3-1B": ("qwen2", False, "3", {}),
    "InternVL3_5-1B": ("qwen3", False, "3.5", {}),
    "InternVL3_5-30B-A3B": ("qwen3_moe", False, "3.5", {}),
    "InternVL3_5-1B-Thinking": ("qwen3", False, "3.5", {"cot_prompt_version": "r1", "do_sample": True}),
    # GPT-OSS LLM, the harmony template (internvl3_5_gpt_oss) and its <|return|> stop
    "InternVL3_5-GPT-OSS-20B-A4B-Preview": ("gpt_oss", False, "3.5", {}),
}
INTERNVL25_MODELS = ("tiny-qwen2", "tiny-qwen2-MPO", "tiny-internlm2", "tiny-internlm2-MPO")
FAMILIES = ("qwen2", "internlm2", "qwen3", "qwen3_moe", "gpt_oss")
# VLMEvalKit has InternVL3 and InternVL3.5 entries only at e8e78f05 (protocol 2026.08).
NEWER_GENERATIONS_PROTOCOL = "2026.08"

# InternVL's GitHub layout (internvl_chat/internvl/...) -> the flat layout of an HF checkpoint repo.
# Only import lines change; modules an HF checkpoint does not ship (phi3, LoRA, timm's DropPath, used
# only with drop_path_rate > 0) become None.
IV_MODEL_FILES = (
    "conversation.py",
    "model/internvl_chat/configuration_intern_vit.py",
    "model/internvl_chat/configuration_internvl_chat.py",
    "model/internvl_chat/modeling_intern_vit.py",
    "model/internvl_chat/modeling_internvl_chat.py",
    "model/internlm2/configuration_internlm2.py",
    "model/internlm2/modeling_internlm2.py",
    "model/internlm2/tokenization_internlm2.py",
    "model/internlm2/tokenization_internlm2_fast.py",
)
IMPORT_REWRITES = (
    (r"from internvl\.conversation import", "from .conversation import"),
    (r"from internvl\.model\.internlm2\.(\w+) import", r"from .\1 import"),
    (r"from internvl\.model\.phi3\.configuration_phi3 import Phi3Config", "Phi3Config = None"),
    (r"from internvl\.model\.phi3\.modeling_phi3 import Phi3ForCausalLM", "Phi3ForCausalLM = None"),
    (r"from peft import LoraConfig, get_peft_model", "LoraConfig = get_peft_model = None"),
    (r"from timm\.models\.layers import DropPath", "DropPath = None"),
)
# InternVL3.5's model code (Qwen3, Qwen3-MoE and GPT-OSS LLMs through AutoModelForCausalLM):
# internvl_chat_gpt_oss/internvl/model/internvl_chat/, already in the flat layout but for timm's DropPath.
IV35_MODEL_FILES = (
    "conversation.py",
    "configuration_intern_vit.py",
    "configuration_internvl_chat.py",
    "modeling_intern_vit.py",
    "modeling_internvl_chat.py",
)
IV35_IMPORT_REWRITES = ((r"from timm\.layers import DropPath", "DropPath = None"),)


# ==================================================================================================
# reference worker: runs under --python with the VLMEvalKit checkout on sys.path; no vleval imports
# ==================================================================================================
def _worker(spec_file: str) -> int:
    spec = json.loads(Path(spec_file).read_text())
    os.environ["LMUData"] = spec["lmudata"]
    os.environ["USE_COT"] = "1" if spec["cot"] else "0"
    os.environ.pop("AUTO_SPLIT", None)
    sys.path.insert(0, spec["vlmevalkit"])
    import torch
    import transformers

    on_cpu = spec["device"] == "cpu"
    if on_cpu:
        # The wrapper moves the model with .cuda() (b13a37db) or device_map="auto" (e8e78f05).
        torch.nn.Module.cuda = lambda self, *args, **kwargs: self
        load = transformers.AutoModel.from_pretrained.__func__

        def from_pretrained(cls, *args, **kwargs):
            kwargs.pop("device_map", None)
            return load(cls, *args, **kwargs)

        transformers.AutoModel.from_pretrained = classmethod(from_pretrained)

    import vlmeval.dataset as vk_dataset
    import vlmeval.vlm.internvl.internvl_chat as wrapper_module
    from vlmeval.dataset import build_dataset
    from vlmeval.vlm.internvl.internvl_chat import InternVLChat

    if spec["dtype"] == "float32":
        # The wrapper names one dtype, torch.bfloat16, for the weights and the pixel values: make that
        # name float32 inside the wrapper module only.
        import types

        class Float32Torch(types.ModuleType):
            def __getattr__(self, name):
                return torch.float32 if name == "bfloat16" else getattr(torch, name)

        wrapper_module.torch = Float32Torch("torch")

    out_root = Path(spec["out"])
    # [name, path, use_mpo_prompt(, the config entry's other kwargs: bench/suite.py gives none)]
    for model_name, model_path, mpo, *entry in spec["models"]:
        entry_kwargs = entry[0] if entry else {}
        try:
            wrapper = InternVLChat(
                model_path=model_path,
                version="V2.0",
                use_mpo_prompt=mpo,
                max_new_tokens=spec["max_new_tokens"],
                **entry_kwargs,
            )
        except (ImportError, ValueError) as exc:  # the model code and this transformers do not fit
            raise SystemExit(
                f"reference: {model_name} does not load under transformers {transformers.__version__} "
                f"({type(exc).__name__}: {exc}); InternVL3.5's model code needs 4.55 or later, InternVL2.5/3's "
                "GitHub code an older one such as 4.46.3 (bench/PARITY.md)"
            ) from None
        if on_cpu:
            wrapper.device = "cpu"
        if spec["dtype"] == "float32":
            _float32_weights(wrapper.model, Path(model_path))
        sampled = bool(entry_kwargs.get("do_sample"))
        thinking = entry_kwargs.get("cot_prompt_version") == "r1"
        record = _record_queries(wrapper)
        for name in spec["datasets"]:
            lmudata = Path(spec["lmudata"])
            if spec.get("image_cache_per_dataset"):
                lmudata = lmudata / name
            os.environ["LMUData"] = str(lmudata)  # VLMEvalKit reads it at each dataset build
            _accept_local_tsv(vk_dataset, name, lmudata / f"{name}.tsv")
            dataset = build_dataset(name)
            wrapper.set_dump_image(dataset.dump_image)
            data = dataset.data
            out_file = out_root / model_name / f"{name}.jsonl"
            out_file.parent.mkdir(parents=True, exist_ok=True)
            predictions: dict[str, str] = {}
            with out_file.open("w", encoding="utf-8") as fh:
                for i in range(len(data)):
                    row = data.iloc[i]
                    record.clear()
                    entry = {"index": str(row["index"])}
                    try:
                        if wrapper.use_custom_prompt(name):
                            message = wrapper.build_prompt(row, dataset=name)
                        else:
                            message = dataset.build_prompt(row)
                        if sampled:  # vleval's seed for this row, so both sides draw the same numbers
                            torch.manual_seed(_row_seed(spec.get("sampling_seed", 0), name, entry["index"]))
                        response = wrapper.generate(message=message, dataset=name)
                    except Exception as exc:  # VLMEvalKit's loop would stop here; keep going, say why
                        entry["error"] = f"{type(exc).__name__}: {exc}"
                    else:
                        entry.update(prompt=record.get("prompt"), tiles=record.get("tiles"))
                        entry["prediction"] = str(response)  # VLMEvalKit writes str(response) to the xlsx
                        if thinking:
                            entry["raw"] = entry["prediction"]
                            entry["prediction"] = _split_think_prediction(entry["raw"])
                        predictions[entry["index"]] = entry["prediction"]
                    fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            print(f"reference: {model_name} {name}: {len(data)} samples", file=sys.stderr, flush=True)
            if spec.get("evaluate"):
                result = _evaluate(
                    dataset,
                    name,
                    predictions,
                    out_root / model_name / f"{model_name}_{name}.xlsx",
                    spec["evaluate"],
                )
                print(f"reference: {model_name} {name}: {result}", file=sys.stderr, flush=True)
    return 0


def _float32_weights(model, checkpoint: Path) -> None:
    """Every weight of ``model`` in float32 with the checkpoint's own values. InternVL3.5's model code
    casts its projector (``mlp1``) to bfloat16 in ``__init__`` whatever the load dtype, so loading a
    float32 checkpoint in float32 leaves that projector rounded to bfloat16; vleval's float32 run keeps
    the stored values. (A no-op for InternVL2.5's code, which loads everything in float32.)"""
    import torch
    from safetensors.torch import load_file

    model.to(torch.float32)
    state = {}
    for shard in sorted(checkpoint.glob("*.safetensors")):
        state.update(load_file(str(shard)))
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise RuntimeError(f"{checkpoint}: tensors the reference model has no place for: {unexpected[:5]}")


def _row_seed(run_seed: int, dataset: str, index: str) -> int:
    """The seed vleval's hf backend gives torch before a sampled row's generate
    (``vleval.models.sampling.request_seed``; restated here: the worker imports nothing from vleval)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{run_seed}|{dataset}|{index}".encode()).digest()[:4], "big")


def _split_think_prediction(reply: str) -> str:
    """The prediction VLMEvalKit e8e78f05 keeps of a reply when SPLIT_THINK is set (as its README asks
    for thinking models; ``vlmeval/inference.py``): the text after the last ``</think>``, stripped, or
    the whole reply when it has none."""
    return reply.split("</think>")[-1].strip() if "</think>" in reply else reply


def _evaluate(dataset, name: str, predictions: dict[str, str], result_file: Path, defaults: dict):
    """Score one benchmark as VLMEvalKit's run.py does after inference (bench/suite.py --reference):
    the dataset's rows without images plus a ``prediction`` column dumped to xlsx, then
    ``dataset.evaluate`` with run.py's default judge for the dataset (its endpoint and key come from
    OPENAI_API_BASE / OPENAI_API_KEY) and run.py's default judge settings, which differ by checkout:
    ``defaults`` = {"mcq": MCQ / Y-N judge model, "nproc": workers, "retry": retries}."""
    from vlmeval.smp import dump, listinstr

    data = dataset.data.copy()
    data["prediction"] = [predictions.get(str(index), "") for index in data["index"]]
    if "image" in data:
        data.pop("image")
    dump(data, str(result_file))
    judge: dict = {"nproc": defaults["nproc"], "verbose": False, "retry": defaults["retry"]}
    if dataset.TYPE in ("MCQ", "Y/N"):
        judge["model"] = defaults["mcq"]
    elif listinstr(["MMVet", "LLaVABench"], name):
        judge["model"] = "gpt-4-turbo"
    elif listinstr(["MathVista"], name):
        judge["model"] = "gpt-4o-mini"
    return dataset.evaluate(str(result_file), **judge)


def _record_queries(wrapper) -> dict:
    """Wrap ``wrapper.model.chat`` so that each call leaves, in the returned dict, the query text the
    model encodes (image placeholders expanded) and the tiles per image."""
    record: dict = {}
    chat = wrapper.model.chat

    class RecordingTokenizer:
        """Delegates to the real tokenizer; keeps the text of the query the model encodes."""

        def __init__(self, inner):
            self._inner = inner

        def __call__(self, text, *args, **kwargs):
            record["prompt"] = text
            return self._inner(text, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    def recording_chat(tokenizer, pixel_values, question, generation_config, **kwargs):
        patches = kwargs.get("num_patches_list")
        if patches is None:
            patches = [] if pixel_values is None else [int(pixel_values.shape[0])]
        record["tiles"] = [int(p) for p in patches]
        return chat(RecordingTokenizer(tokenizer), pixel_values, question, generation_config, **kwargs)

    wrapper.model.chat = recording_chat
    return record


def _accept_local_tsv(vk_dataset, name: str, tsv: Path) -> None:
    """Point VLMEvalKit's md5 table at the synthetic file so it is used instead of downloaded."""
    import hashlib
    import inspect

    digest = hashlib.md5(tsv.read_bytes()).hexdigest()
    for obj in vars(vk_dataset).values():
        table = getattr(obj, "DATASET_MD5", None)
        if inspect.isclass(obj) and isinstance(table, dict) and name in getattr(obj, "DATASET_URL", {}):
            table[name] = digest


# ==================================================================================================
# driver: runs under vleval's interpreter
# ==================================================================================================
def _reference_model_code(internvl: Path, dst: Path, generation: str = "2.5") -> None:
    """Copy InternVL's modeling files for ``generation`` ("2.5", "3": ``internvl_chat``; "3.5":
    ``internvl_chat_gpt_oss``) into checkpoint folder ``dst`` in the HF-repo layout."""
    if generation == "3.5":
        code = internvl / "internvl_chat_gpt_oss" / "internvl" / "model" / "internvl_chat"
        if not code.is_dir():
            raise SystemExit(f"--internvl {internvl}: no internvl_chat_gpt_oss/ (InternVL3.5's model code)")
        for name in IV35_MODEL_FILES:
            text = (code / name).read_text(encoding="utf-8")
            for pattern, replacement in IV35_IMPORT_REWRITES:
                text = re.sub(pattern, replacement, text)
            (dst / name).write_text(text, encoding="utf-8")
        return
    github = internvl / "internvl_chat" / "internvl"
    if github.is_dir():
        for rel in IV_MODEL_FILES:
            text = (github / rel).read_text(encoding="utf-8")
            for pattern, replacement in IMPORT_REWRITES:
                text = re.sub(pattern, replacement, text)
            (dst / Path(rel).name).write_text(text, encoding="utf-8")
        return
    names = [Path(rel).name for rel in IV_MODEL_FILES]
    missing = [n for n in names if not (internvl / n).is_file()]
    if missing:
        raise SystemExit(
            f"--internvl {internvl}: neither an InternVL checkout nor a folder with {', '.join(missing)}"
        )
    for n in names:
        shutil.copy2(internvl / n, dst / n)


def build_inputs(args: argparse.Namespace) -> dict[str, Path]:
    from vleval.synthetic.benchmarks import make_benchmark_tsvs
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    work = args.work
    for name in _models(args):
        family, mpo, generation, _ = MODELS[name]
        ours = make_tiny_checkpoint(work / "ckpt" / name, family, seed=args.ckpt_seed, mpo=mpo)
        theirs = work / "ref_ckpt" / name
        shutil.rmtree(theirs, ignore_errors=True)
        shutil.copytree(ours, theirs)
        _reference_model_code(args.internvl, theirs, generation)
    # One data folder per side and protocol: each side caches decoded images under <LMUData>/images.
    tsv_root = work / "tsv"
    files = make_benchmark_tsvs(args.data, tsv_root, n=args.n, seed=args.seed)
    # Without --shared-image-cache the reference gets one data folder per benchmark, so splits that
    # share an image folder in VLMEvalKit (MMBench_V11 DEV/TEST, CRPE EXIST/RELATION) and reuse indices
    # do not read each other's images (see PARITY.md).
    for protocol in args.vlmevalkit:
        for side in ("vleval", "reference"):
            root = work / "lmudata" / f"{side}_{protocol}"
            shutil.rmtree(root, ignore_errors=True)
            for name, path in files.items():
                folder = root / name if side == "reference" and not args.shared_image_cache else root
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, folder / path.name)
    return files


def _models(args: argparse.Namespace, protocol: str | None = None) -> list[str]:
    """The checkpoints chosen (--models, --families); with ``protocol``, those it has entries for."""
    chosen = [name for name in args.models if MODELS[name][0] in args.families]
    if protocol is None or protocol == NEWER_GENERATIONS_PROTOCOL:
        return chosen
    return [name for name in chosen if MODELS[name][2] == "2.5"]


def run_vleval(args: argparse.Namespace, protocol: str, cot: bool) -> Path:
    out = args.work / "vleval" / f"{protocol}_cot{int(cot)}"
    shutil.rmtree(out, ignore_errors=True)  # a fresh run, not a resumed one
    command = [sys.executable, "-m", "vleval", "run", "--model"]
    command += [str(args.work / "ckpt" / m) for m in _models(args, protocol)]
    command += [
        "--data",
        *args.data,
        "--work-dir",
        str(out),
        "--data-dir",
        str(args.work / "lmudata" / f"vleval_{protocol}"),
    ]
    command += [
        "--mode",
        "infer",
        "--save-prompts",
        "--skip-md5-check",
        "--no-progress",
        "--protocol",
        protocol,
    ]
    command += ["--max-new-tokens", str(args.max_new_tokens), "--device", args.device, "--dtype", args.dtype]
    command += ["--batch-size", str(args.batch_size)] + (["--cot"] if cot else [])
    _run(command, args.work / "logs" / f"vleval_{protocol}_cot{int(cot)}.log", dict(os.environ))
    return out


def run_reference(args: argparse.Namespace, protocol: str, cot: bool) -> Path:
    out = args.work / "reference" / f"{protocol}_cot{int(cot)}"
    shutil.rmtree(out, ignore_errors=True)
    spec = {
        "vlmevalkit": str(args.vlmevalkit[protocol].resolve()),
        "lmudata": str(args.work / "lmudata" / f"reference_{protocol}"),
        "cot": cot,
        "device": args.device,
        "dtype": args.dtype,
        "image_cache_per_dataset": not args.shared_image_cache,
        "max_new_tokens": args.max_new_tokens,
        "datasets": list(args.data),
        "models": [
            [m, str(args.work / "ref_ckpt" / m), MODELS[m][1], MODELS[m][3]] for m in _models(args, protocol)
        ],
        "sampling_seed": 0,  # vleval run's seed for its first (here: only) pass of a sampled model
        "out": str(out),
    }
    spec_file = args.work / "logs" / f"reference_{protocol}_cot{int(cot)}.json"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(spec, indent=1))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "USE_COT", "LMUData")}
    command = [str(args.python), str(Path(__file__).resolve()), "--worker", str(spec_file)]
    _run(command, args.work / "logs" / f"reference_{protocol}_cot{int(cot)}.log", env)
    return out


def _run(command: list[str], log: Path, env: dict[str, str]) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with log.open("w") as fh:
        done = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    print(f"  {log.stem}: {time.time() - started:.0f}s (log {log})", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}); see {log}")


def _vleval_side(out: Path, model: str, dataset: str) -> dict[str, dict]:
    import pandas as pd

    prompts = {}
    for line in (out / model / f"{model}_{dataset}_prompts.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        prompts[str(row["index"])] = row
    # keep_default_na=False: an empty prediction reads back as '', as the reference's str(response)
    sheet = pd.read_excel(
        out / model / f"{model}_{dataset}.xlsx",
        dtype={"index": str, "prediction": str},
        keep_default_na=False,
    )
    rows = {}
    for index, prediction in zip(sheet["index"], sheet["prediction"], strict=True):
        saved = prompts.get(str(index), {})
        rows[str(index)] = {
            "prompt": saved.get("prompt"),
            "tiles": saved.get("tiles"),
            "prediction": str(prediction),
        }
    return rows


def _reference_side(out: Path, model: str, dataset: str) -> dict[str, dict]:
    rows = {}
    for line in (out / model / f"{dataset}.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows[row["index"]] = row
    return rows


def compare(ours: dict[str, dict], theirs: dict[str, dict]) -> tuple[dict[str, int], list[dict]]:
    """Counts of equal prompts/tiles/predictions over the reference's samples, and the mismatches."""
    counts = {
        "samples": len(theirs),
        "prompts": 0,
        "tiles": 0,
        "predictions": 0,
        "missing": 0,
        "ref_errors": 0,
    }
    mismatches = []
    for index, ref in theirs.items():
        got = ours.get(index)
        if "error" in ref:
            counts["ref_errors"] += 1
            mismatches.append({"index": index, "what": "reference failed", "reference": ref["error"]})
            continue
        if got is None:
            counts["missing"] += 1
            mismatches.append({"index": index, "what": "missing in vleval"})
            continue
        for key, count_key in (("prompt", "prompts"), ("tiles", "tiles"), ("prediction", "predictions")):
            if got[key] == ref[key]:
                counts[count_key] += 1
            else:
                mismatches.append({"index": index, "what": key, "vleval": got[key], "reference": ref[key]})
    counts["extra"] = len(set(ours) - set(theirs))
    return counts, mismatches


def format_table(results: list[dict]) -> str:
    header = ("protocol", "variant", "dataset", "samples", "prompts=", "tiles=", "predictions=", "ref errors")
    rows = [header]
    for r in results:
        c = r["counts"]
        rows.append(
            (r["protocol"], r["variant"], r["dataset"])
            + tuple(str(c[k]) for k in ("samples", "prompts", "tiles", "predictions", "ref_errors"))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _parse_checkouts(values: list[str], default_protocol: str) -> dict[str, Path]:
    checkouts = {}
    for value in values:
        protocol, _, path = value.rpartition("=")
        checkouts[protocol or default_protocol] = Path(path)
    for path in checkouts.values():
        if not (path / "vlmeval" / "vlm" / "internvl" / "internvl_chat.py").is_file():
            raise SystemExit(
                f"--vlmevalkit {path}: not a VLMEvalKit checkout (no vlmeval/vlm/internvl/internvl_chat.py)"
            )
    return checkouts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument(
        "--vlmevalkit",
        action="append",
        default=[],
        metavar="[PROTOCOL=]DIR",
        help="VLMEvalKit checkout; PROTOCOL= pairs it with a vleval protocol (2024.12 <-> b13a37db, "
        "2026.08 <-> e8e78f05); repeat for several",
    )
    parser.add_argument("--python", type=Path, help="interpreter where the VLMEvalKit checkout runs")
    parser.add_argument(
        "--internvl", type=Path, help="OpenGVLab/InternVL checkout, or a folder with the HF modeling files"
    )
    parser.add_argument(
        "--work", type=Path, default=Path("parity-work"), help="scratch folder (default ./parity-work)"
    )
    parser.add_argument("--data", nargs="+", default=list(BENCHMARKS), help="benchmarks (default: all above)")
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(INTERNVL25_MODELS),
        choices=list(MODELS),
        help="tiny checkpoints (default: the InternVL2.5 ones); InternVL3/3.5 ones run under 2026.08 only",
    )
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument(
        "--cot", nargs="+", type=int, default=[0, 1], choices=[0, 1], help="USE_COT values (default 0 1)"
    )
    parser.add_argument("--n", type=int, default=6, help="questions per synthetic benchmark (default 6)")
    parser.add_argument("--seed", type=int, default=123, help="synthetic benchmark seed (the tests use 0)")
    parser.add_argument("--ckpt-seed", type=int, default=5, help="tiny checkpoint seed (the tests use 0)")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=16, help="vleval samples per backend call")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--dtype",
        default="bfloat16",
        choices=["bfloat16", "float32"],
        help="weights and pixels on both sides (VLMEvalKit: bfloat16; float32 isolates logic from "
        "kernel rounding)",
    )
    parser.add_argument(
        "--shared-image-cache",
        action="store_true",
        help="one $LMUData for all benchmarks on the reference side, as a real run has it: splits that share "
        "an image folder and reuse indices then read each other's images",
    )
    parser.add_argument("--reuse", action="store_true", help="compare outputs already under --work (no runs)")
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    if not args.vlmevalkit or (not args.reuse and (args.python is None or args.internvl is None)):
        parser.error("--vlmevalkit, --python and --internvl are required")
    args.vlmevalkit = _parse_checkouts(args.vlmevalkit, "2024.12")
    args.work = args.work.resolve()
    if not args.reuse:
        build_inputs(args)
    results, mismatches = [], []
    for protocol in args.vlmevalkit:
        if not _models(args, protocol):
            print(
                f"protocol {protocol}: none of the chosen checkpoints has a VLMEvalKit entry there; skipped"
            )
            continue
        for cot in args.cot:
            if args.reuse:
                ours_dir = args.work / "vleval" / f"{protocol}_cot{cot}"
                theirs_dir = args.work / "reference" / f"{protocol}_cot{cot}"
            else:
                print(f"protocol {protocol}, USE_COT={cot}")
                ours_dir = run_vleval(args, protocol, bool(cot))
                theirs_dir = run_reference(args, protocol, bool(cot))
            for model in _models(args, protocol):
                variant = f"{model.removeprefix('tiny-')}{' cot' if cot else ''}"
                for dataset in args.data:
                    counts, bad = compare(
                        _vleval_side(ours_dir, model, dataset), _reference_side(theirs_dir, model, dataset)
                    )
                    results.append(
                        {"protocol": protocol, "variant": variant, "dataset": dataset, "counts": counts}
                    )
                    mismatches += [
                        {"protocol": protocol, "variant": variant, "dataset": dataset, **m} for m in bad
                    ]
    print(format_table(results))
    keys = ("samples", "prompts", "tiles", "predictions", "ref_errors", "missing", "extra")
    total = {k: sum(r["counts"][k] for r in results) for k in keys}
    print(
        f"total: {total['samples']} samples; prompts equal {total['prompts']}, tiles equal {total['tiles']}, "
        f"predictions equal {total['predictions']}; reference failed on {total['ref_errors']}; "
        f"missing in vleval {total['missing']}, only in vleval {total['extra']}"
    )
    (args.work / "summary.json").write_text(json.dumps({"total": total, "cells": results}, indent=1))
    with (args.work / "mismatches.jsonl").open("w", encoding="utf-8") as fh:
        for m in mismatches:
            fh.write(json.dumps(m, ensure_ascii=False) + "\n")
    # Rows the reference itself cannot run are reported (and listed in mismatches.jsonl), not failures.
    differ = [m for m in mismatches if m["what"] != "reference failed"]
    ok = not differ and total["extra"] == 0 and total["samples"] > total["ref_errors"]
    print("parity: OK" if ok else f"parity: {len(differ)} differences, see {args.work / 'mismatches.jsonl'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
