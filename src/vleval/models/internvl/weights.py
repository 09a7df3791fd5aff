"""Checkpoint tensor names <-> our module's parameter names, and the safetensors files.

Checkpoint names are InternVL's (§8.5): ``vision_model.*`` and ``mlp1.*`` load one to one, Qwen2's
``language_model.*`` too. InternLM2 weights are renamed onto ``LlamaForCausalLM`` and the fused
``attention.wqkv`` is split per §8.6: rows viewed as ``[KV, G + 2, d, D]`` (G = H / KV query heads per
KV group, then one key head, then one value head), q = ``[:, :G]``, k = ``[:, G]``, v = ``[:, G + 1]``.
Qwen3-MoE checkpoints store one tensor per expert (``mlp.experts.{e}.{gate,up,down}_proj.weight``, as
Qwen3's own checkpoints do); transformers' ``Qwen3MoeForCausalLM`` holds them fused per layer:
``experts.gate_up_proj[e] = cat(gate_e, up_e)`` (gate first, as its forward chunks them) and
``experts.down_proj[e] = down_e``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from vleval.errors import DataCorruptError, DataMissingError
from vleval.models.metadata import read_metadata_json, read_safetensors_header

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"

# (our suffix, checkpoint suffix) for InternLM2 under language_model.model.layers.{i}.
_INTERNLM2_LAYER_RENAMES = (
    ("self_attn.o_proj.", "attention.wo."),
    ("mlp.gate_proj.", "feed_forward.w1."),
    ("mlp.down_proj.", "feed_forward.w2."),
    ("mlp.up_proj.", "feed_forward.w3."),
    ("input_layernorm.", "attention_norm."),
    ("post_attention_layernorm.", "ffn_norm."),
)
_INTERNLM2_TOP_RENAMES = (
    ("language_model.model.embed_tokens.", "language_model.model.tok_embeddings."),
    ("language_model.lm_head.", "language_model.output."),
)
_QKV = re.compile(r"^(language_model\.model\.layers\.\d+\.)self_attn\.[qkv]_proj\.(weight|bias)$")
_WQKV = re.compile(r"^(language_model\.model\.layers\.\d+\.)attention\.wqkv\.(weight|bias)$")
_LAYER = re.compile(r"^(language_model\.model\.layers\.\d+\.)(.*)$")
_FUSED_EXPERTS = re.compile(r"^(language_model\.model\.layers\.\d+\.mlp\.experts\.)(gate_up_proj|down_proj)$")
_EXPERT = re.compile(
    r"^(language_model\.model\.layers\.\d+\.mlp\.experts\.)(\d+)\.(gate_proj|up_proj|down_proj)\.weight$"
)


def checkpoint_name(model_name: str, family: str) -> str:
    """The checkpoint tensor that fills one of our parameters (q/k/v all come from ``wqkv``)."""
    if family != "internlm2":
        return model_name
    m = _QKV.match(model_name)
    if m:
        return f"{m.group(1)}attention.wqkv.{m.group(2)}"
    for ours, theirs in _INTERNLM2_TOP_RENAMES:
        if model_name.startswith(ours):
            return theirs + model_name[len(ours) :]
    m = _LAYER.match(model_name)
    if m:
        for ours, theirs in _INTERNLM2_LAYER_RENAMES:
            if m.group(2).startswith(ours):
                return m.group(1) + theirs + m.group(2)[len(ours) :]
    return model_name


def checkpoint_names(model_name: str, family: str, num_experts: int = 0) -> list[str]:
    """Every checkpoint tensor that fills one of our parameters (a fused MoE parameter: one per expert)."""
    m = _FUSED_EXPERTS.match(model_name) if family == "qwen3_moe" else None
    if m:
        parts = ("gate_proj", "up_proj") if m.group(2) == "gate_up_proj" else ("down_proj",)
        return [f"{m.group(1)}{e}.{part}.weight" for e in range(num_experts) for part in parts]
    return [checkpoint_name(model_name, family)]


class ExpertStacker:
    """Holds the per-expert tensors of a Qwen3-MoE layer until its fused parameter is complete, so memory
    holds at most the experts of the layers a shard leaves open."""

    def __init__(self, num_experts: int) -> None:
        self.num_experts = num_experts
        self.pending: dict[str, dict[tuple[int, str], torch.Tensor]] = {}

    def add(self, ckpt_name: str, tensor: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        m = _EXPERT.match(ckpt_name)
        if m is None:
            raise DataCorruptError(f"{ckpt_name} is not a Qwen3-MoE expert tensor")
        prefix, expert, kind = m.group(1), int(m.group(2)), m.group(3)
        fused = prefix + ("down_proj" if kind == "down_proj" else "gate_up_proj")
        parts = self.pending.setdefault(fused, {})
        parts[(expert, kind)] = tensor
        if len(parts) < self.num_experts * (1 if kind == "down_proj" else 2):
            return []
        del self.pending[fused]
        experts = range(self.num_experts)
        if kind == "down_proj":
            return [(fused, torch.stack([parts[(e, "down_proj")] for e in experts]))]
        gate_up = [torch.cat([parts[(e, "gate_proj")], parts[(e, "up_proj")]], dim=0) for e in experts]
        return [(fused, torch.stack(gate_up))]


def _model_name(ckpt_name: str) -> str:
    for ours, theirs in _INTERNLM2_TOP_RENAMES:
        if ckpt_name.startswith(theirs):
            return ours + ckpt_name[len(theirs) :]
    m = _LAYER.match(ckpt_name)
    if m:
        for ours, theirs in _INTERNLM2_LAYER_RENAMES:
            if m.group(2).startswith(theirs):
                return m.group(1) + ours + m.group(2)[len(theirs) :]
    return ckpt_name


def split_wqkv(wqkv: torch.Tensor, num_heads: int, num_kv_heads: int) -> tuple[torch.Tensor, ...]:
    """Fused InternLM2 ``wqkv`` (weight ``[(H + 2 KV) d, D]`` or bias) -> (q, k, v), KV-group-major."""
    groups = num_heads // num_kv_heads
    head_dim = wqkv.shape[0] // (num_heads + 2 * num_kv_heads)
    rest = wqkv.shape[1:]
    w = wqkv.reshape(num_kv_heads, groups + 2, head_dim, *rest)
    q = w[:, :groups].reshape(num_heads * head_dim, *rest)
    k = w[:, groups].reshape(num_kv_heads * head_dim, *rest)
    v = w[:, groups + 1].reshape(num_kv_heads * head_dim, *rest)
    return q.contiguous(), k.contiguous(), v.contiguous()


def fuse_wqkv(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_heads: int, num_kv_heads: int
) -> torch.Tensor:
    """Inverse of ``split_wqkv`` (used to write InternLM2 checkpoints)."""
    groups = num_heads // num_kv_heads
    head_dim = q.shape[0] // num_heads
    rest = q.shape[1:]
    parts = (
        q.reshape(num_kv_heads, groups, head_dim, *rest),
        k.reshape(num_kv_heads, 1, head_dim, *rest),
        v.reshape(num_kv_heads, 1, head_dim, *rest),
    )
    return torch.cat(parts, dim=1).reshape(-1, *rest).contiguous()


def to_model_tensors(
    ckpt_name: str,
    tensor: torch.Tensor,
    family: str,
    num_heads: int,
    num_kv_heads: int,
    experts: ExpertStacker | None = None,
) -> list[tuple[str, torch.Tensor]]:
    """One checkpoint tensor -> the (our name, tensor) pairs it fills (Qwen3-MoE experts: none until the
    last expert of a fused parameter arrives through ``experts``)."""
    if family == "qwen3_moe" and experts is not None and _EXPERT.match(ckpt_name):
        return experts.add(ckpt_name, tensor)
    if family != "internlm2":
        return [(ckpt_name, tensor)]
    m = _WQKV.match(ckpt_name)
    if m:
        q, k, v = split_wqkv(tensor, num_heads, num_kv_heads)
        prefix, kind = m.group(1), m.group(2)
        return [(f"{prefix}self_attn.{p}_proj.{kind}", t) for p, t in zip("qkv", (q, k, v), strict=True)]
    return [(_model_name(ckpt_name), tensor)]


def to_checkpoint_tensors(
    state: dict[str, torch.Tensor], family: str, num_heads: int, num_kv_heads: int
) -> dict[str, torch.Tensor]:
    """Our state dict -> checkpoint-named tensors (InternLM2: renamed, q/k/v fused)."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        fused = _FUSED_EXPERTS.match(name) if family == "qwen3_moe" else None
        if fused:  # [E, 2I, H] -> gate/up [I, H] per expert; [E, H, I] -> down [H, I] per expert
            names = checkpoint_names(name, family, tensor.shape[0])
            pieces = [
                p for e in tensor for p in (e.chunk(2, dim=0) if fused.group(2) == "gate_up_proj" else (e,))
            ]
            out.update((n, p.contiguous()) for n, p in zip(names, pieces, strict=True))
            continue
        ckpt = checkpoint_name(name, family)
        if ckpt in out:
            continue
        m = _QKV.match(name) if family == "internlm2" else None
        if m:
            q, k, v = (state[f"{m.group(1)}self_attn.{p}_proj.{m.group(2)}"] for p in "qkv")
            out[ckpt] = fuse_wqkv(q, k, v, num_heads, num_kv_heads)
        else:
            out[ckpt] = tensor.contiguous()
    return out


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------
def weight_files(model_dir: Path) -> dict[str, list[str]]:
    """shard file name -> tensor names it holds (from the index json, or the single file)."""
    model_dir = Path(model_dir)
    index = model_dir / INDEX_FILE
    if os.path.lexists(index):
        shards: dict[str, list[str]] = {}
        for name, shard in read_weight_map(index).items():
            shards.setdefault(shard, []).append(name)
        for shard in shards:
            if not (model_dir / shard).is_file():
                raise DataMissingError(
                    f"{model_dir / shard} is named in {INDEX_FILE} but missing; the download is "
                    "incomplete: run vleval models download again"
                )
        return shards
    single = model_dir / SINGLE_FILE
    if os.path.lexists(single):
        from safetensors import SafetensorError, safe_open

        read_safetensors_header(single)  # a regular file with a bounded header, before safetensors maps it
        try:
            with safe_open(str(single), framework="pt") as f:
                return {SINGLE_FILE: list(f.keys())}
        except SafetensorError as exc:
            raise DataCorruptError(f"{single}: unreadable safetensors file ({exc}); re-download it") from None
    raise DataMissingError(
        f"no {INDEX_FILE} or {SINGLE_FILE} in {model_dir}: only safetensors checkpoints are supported; "
        "download the checkpoint with vleval models download NAME"
    )


def read_weight_map(index: Path) -> dict[str, str]:
    """The index's ``weight_map`` (tensor name -> shard file name), checked: an object of strings,
    each shard a plain file name beside the index."""
    raw = read_metadata_json(index)
    weight_map = raw.get("weight_map") if isinstance(raw, dict) else None
    if not isinstance(weight_map, dict):
        raise DataCorruptError(
            f"{index}: 'weight_map' is missing or not an object (tensor name -> shard file); "
            "re-download the checkpoint"
        )
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or not shard or Path(shard).name != shard or shard in (".", ".."):
            raise DataCorruptError(
                f"{index}: weight_map[{name!r}] is {shard!r}, expected the file name of a shard beside "
                "the index; re-download the checkpoint"
            )
    return weight_map


def iter_checkpoint(model_dir: Path, shards: dict[str, list[str]]) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (checkpoint name, tensor) shard by shard, so memory holds one tensor at a time."""
    from safetensors import SafetensorError, safe_open

    for shard, names in shards.items():
        path = Path(model_dir) / shard
        read_safetensors_header(path)
        try:
            with safe_open(str(path), framework="pt") as f:
                present = set(f.keys())
                for name in names:
                    if name not in present:
                        raise DataCorruptError(
                            f"{path}: tensor {name} is listed in {INDEX_FILE} but not in the file"
                        )
                    yield name, f.get_tensor(name)
        except SafetensorError as exc:
            raise DataCorruptError(f"{path}: unreadable safetensors file ({exc}); re-download it") from None


def save_sharded(tensors: dict[str, torch.Tensor], out_dir: Path, shards: int) -> None:
    """Write tensors as ``model-0000i-of-0000n.safetensors`` + index (or one ``model.safetensors``)."""
    from safetensors.torch import save_file

    names = sorted(tensors)
    if shards <= 1:
        save_file({n: tensors[n] for n in names}, str(out_dir / SINGLE_FILE), metadata={"format": "pt"})
        return
    per = -(-len(names) // shards)
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(shards):
        chunk = names[i * per : (i + 1) * per]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in chunk}, str(out_dir / file), metadata={"format": "pt"})
        for n in chunk:
            weight_map[n] = file
            total += tensors[n].numel() * tensors[n].element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out_dir / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
