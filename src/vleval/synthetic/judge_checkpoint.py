"""A tiny open-weights judge for tests: a text-only Qwen2 checkpoint (``Qwen2ForCausalLM``, standard
Hugging Face layout: ``config.json``, ``model.safetensors``, tokenizer files with a chat template) whose
greedy answer follows a rule one can compute by hand.

The rule (``expected_answer``): the answer is the candidate token named most often in the chat-templated
prompt, ties going to the earlier candidate in ``CANDIDATES``; the token ``Assistant`` (as in the
LLaVA-Bench review prompt, "scores for Assistant 1 and 2") votes for ``8 6`` and ``Correctness`` (the
MM-Vet table header) for the grades (``MARKERS``).
So the model answers the reference's judge prompts in their own vocabulary: a letter for MCQ matching,
Yes/No for Y/N matching, a grade for MM-Vet, two scores for LLaVA-Bench; and the answer changes with
the prompt's content (a prediction that names "B" twice tips the count).

How the weights implement it (set by hand, not trained): one decoder layer. Every token embedding has
the same norm; the candidate and marker tokens ("features") carry a one-hot feature dimension.
Query and key weights are zero, so attention is uniform over the prefix and the value/output
projections copy each feature into a "context" dimension: at the last position it holds the feature's
frequency in the prompt. The MLP is zero. ``lm_head`` scores each candidate by its votes (plus a tiny
tie-break), every other token negatively, and ``<|im_end|>`` by an "I am a candidate" embedding
dimension, so right after answering, the model stops. Candidates are added tokens that match whole
words only (``single_word``), so "No" is not found in "Not" nor "A" in "Answer".

Weights are float32: the margins (one more occurrence in a prompt of a few thousand tokens) survive
float32 arithmetic in any kernel order; bfloat16 would break ties differently.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vleval.errors import VlevalError

# Answer tokens, in tie-break order (earlier wins a tie).
CANDIDATES: tuple[str, ...] = ("A", "B", "C", "D", "E", "Yes", "No", "1.0", "0.5", "0.0", "8 6")
# Marker token -> {candidate: votes per occurrence}: the LLaVA-Bench review prompt names "Assistant 1
# and 2"; the MM-Vet grading prompt's table header ends in "Correctness".
MARKERS: dict[str, dict[str, float]] = {
    "Assistant": {"8 6": 50.0},
    "Correctness": {"1.0": 50.0, "0.5": 50.0, "0.0": 50.0},
}

# A Qwen2.5-Instruct style template (system turn defaulting to a helpful-assistant line).
JUDGE_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a tiny test judge.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_FORMAT_VERSION = 2
_MARKER_FILE = ".vleval-synthetic-judge.json"
HIDDEN = 64
_FEATURE_BASE = 2  # dims 0: constant 1, 1: "is a candidate", 2..: features, 30/31: norm fillers
_FILLER = (30, 31)
_CONTEXT_BASE = 32  # dims 32..: feature frequencies gathered by attention
_VOTE_SCALE = 100.0
_TIE_STEP = 1e-3
_STOP_WEIGHT = 1e5


def _features() -> list[str]:
    return [*CANDIDATES, *MARKERS]


def _votes() -> dict[str, dict[str, float]]:
    """candidate -> {feature: votes per occurrence}."""
    votes = {c: {c: 1.0} for c in CANDIDATES}
    for marker, weights in MARKERS.items():
        for candidate, weight in weights.items():
            votes[candidate][marker] = weight
    return votes


def _write_tokenizer(out_dir: Path) -> Any:
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    from vleval.synthetic.tokenizer import write_qwen2_tokenizer

    write_qwen2_tokenizer(out_dir)
    tok = AutoTokenizer.from_pretrained(str(out_dir))
    tok.add_tokens([AddedToken(t, single_word=True, normalized=False, special=False) for t in _features()])
    tok.chat_template = JUDGE_CHAT_TEMPLATE
    tok.save_pretrained(str(out_dir))
    return AutoTokenizer.from_pretrained(str(out_dir))


def _weights(tok: Any, vocab_size: int) -> dict[str, Any]:
    import torch

    features = _features()
    if _FEATURE_BASE + len(features) > _FILLER[0] or len(features) > HIDDEN - _CONTEXT_BASE:
        raise ValueError("too many judge features for the hidden size")
    feature_id = {f: tok.convert_tokens_to_ids(f) for f in features}
    candidate_ids = {feature_id[c] for c in CANDIDATES}
    im_end = tok.convert_tokens_to_ids("<|im_end|>")

    embed = torch.zeros(vocab_size, HIDDEN)
    embed[:, 0] = 1.0
    embed[:, _FILLER[0]] = 1.0
    embed[:, _FILLER[1]] = 1.0  # plain tokens: three ones, like every feature token
    for k, feature in enumerate(features):
        row = feature_id[feature]
        embed[row, _FILLER[1]] = 0.0
        embed[row, _FEATURE_BASE + k] = 1.0
        if row in candidate_ids:
            embed[row, _FILLER[0]] = 0.0
            embed[row, 1] = 1.0

    value = torch.zeros(HIDDEN, HIDDEN)  # (kv_heads * head_dim, hidden): head 0 carries the features
    output = torch.zeros(HIDDEN, HIDDEN)
    for k in range(len(features)):
        value[k, _FEATURE_BASE + k] = 1.0
        output[_CONTEXT_BASE + k, k] = 1.0

    head = torch.zeros(vocab_size, HIDDEN)
    head[:, 0] = -1.0  # every non-candidate token scores below every candidate
    votes = _votes()
    for rank, candidate in enumerate(CANDIDATES):
        row = feature_id[candidate]
        head[row, 0] = _TIE_STEP * (len(CANDIDATES) - rank)
        for feature, weight in votes[candidate].items():
            head[row, _CONTEXT_BASE + features.index(feature)] = _VOTE_SCALE * weight
    head[im_end] = 0.0
    head[im_end, 1] = _STOP_WEIGHT

    zeros = torch.zeros
    layer = "model.layers.0."
    return {
        "model.embed_tokens.weight": embed,
        layer + "input_layernorm.weight": torch.ones(HIDDEN),
        layer + "post_attention_layernorm.weight": torch.ones(HIDDEN),
        layer + "self_attn.q_proj.weight": zeros(HIDDEN, HIDDEN),
        layer + "self_attn.q_proj.bias": zeros(HIDDEN),
        layer + "self_attn.k_proj.weight": zeros(HIDDEN, HIDDEN),
        layer + "self_attn.k_proj.bias": zeros(HIDDEN),
        layer + "self_attn.v_proj.weight": value,
        layer + "self_attn.v_proj.bias": zeros(HIDDEN),
        layer + "self_attn.o_proj.weight": output,
        layer + "mlp.gate_proj.weight": zeros(HIDDEN, HIDDEN),
        layer + "mlp.up_proj.weight": zeros(HIDDEN, HIDDEN),
        layer + "mlp.down_proj.weight": zeros(HIDDEN, HIDDEN),
        "model.norm.weight": torch.ones(HIDDEN),
        "lm_head.weight": head,
    }


def _config(tok: Any, vocab_size: int) -> dict[str, Any]:
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "attention_dropout": 0.0,
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "hidden_act": "silu",
        "hidden_size": HIDDEN,
        "intermediate_size": HIDDEN,
        "max_position_embeddings": 32768,
        "max_window_layers": 1,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "num_key_value_heads": 2,
        "rms_norm_eps": 1e-6,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "sliding_window": None,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": vocab_size,
    }


def make_tiny_judge(path: Path) -> Path:
    """Write the tiny judge checkpoint to ``path`` (created; reused when already built) and return it."""
    from safetensors.torch import save_file

    path = Path(path)
    spec = {"version": _FORMAT_VERSION, "candidates": list(CANDIDATES), "markers": list(MARKERS)}
    marker = path / _MARKER_FILE
    if marker.is_file() and json.loads(marker.read_text()) == spec:
        return path
    if path.exists() and any(path.iterdir()) and not marker.is_file():  # never delete what we did not build
        raise VlevalError(f"{path} exists and is not a vleval synthetic judge; choose an empty directory")
    staging = path.parent / f".{path.name}.building-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tok = _write_tokenizer(staging)
    vocab_size = -(-len(tok) // 16) * 16
    tensors = {k: v.contiguous() for k, v in _weights(tok, vocab_size).items()}
    save_file(tensors, str(staging / "model.safetensors"), metadata={"format": "pt"})
    (staging / "config.json").write_text(
        json.dumps(_config(tok, vocab_size), indent=2) + "\n", encoding="utf-8"
    )
    generation = {
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "do_sample": False,
    }
    (staging / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
    (staging / _MARKER_FILE).write_text(json.dumps(spec) + "\n")
    if path.exists():
        shutil.rmtree(path)
    staging.rename(path)
    return path


def expected_answer(judge_dir: Path, messages: Sequence[dict[str, Any]]) -> str:
    """The tiny judge's greedy answer to a chat, computed from the rule (module docstring), not the model."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(judge_dir))
    ids = tok.apply_chat_template(list(messages), tokenize=True, add_generation_prompt=True)
    if isinstance(ids, dict) or hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    features = _features()
    counts = {f: 0 for f in features}
    names = {tok.convert_tokens_to_ids(f): f for f in features}
    for i in ids:
        if i in names:
            counts[names[i]] += 1
    votes = _votes()
    scores = {c: sum(w * counts[f] for f, w in votes[c].items()) for c in CANDIDATES}
    best = max(scores.values())
    return next(c for c in CANDIDATES if scores[c] == best)
