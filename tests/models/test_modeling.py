import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from vleval.errors import VlevalError
from vleval.models.internvl.config import VisionConfig
from vleval.models.internvl.loader import load_internvl
from vleval.models.internvl.modeling import pixel_shuffle
from vleval.models.internvl.vision import InternAttention
from vleval.models.internvl.weights import fuse_wqkv, split_wqkv
from vleval.synthetic.checkpoints import make_tiny_checkpoint


@pytest.fixture(scope="module")
def internlm2_dir(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("modeling") / "internlm2", "internlm2")


def test_pixel_shuffle_v2_groups_each_2x2_neighbourhood_in_reference_order():
    n, side, c = 2, 4, 3
    x = torch.randn(n, side, side, c)
    out = pixel_shuffle(x, 0.5, "v2")
    assert out.shape == (n, side // 2, side // 2, 4 * c)
    # derived by hand from the reference's view/permute/view/permute sequence (protocol §8.2):
    # channel block m // c = 2 * da + db takes x[2i + da, 2j + db]
    for i in range(side // 2):
        for j in range(side // 2):
            expected = torch.cat([x[:, 2 * i + da, 2 * j + db] for da in (0, 1) for db in (0, 1)], dim=-1)
            assert torch.equal(out[:, i, j], expected)
    # v1 leaves the map transposed
    assert torch.equal(pixel_shuffle(x, 0.5, "v1"), out.permute(0, 2, 1, 3))


def test_wqkv_split_is_kv_group_major_and_fuse_inverts_it():
    heads, kv, d, hidden = 4, 2, 3, 5
    groups = heads // kv
    # row r of the fused weight is tagged with (group, slot, dim) as its value
    rows = [(g, s, i) for g in range(kv) for s in range(groups + 2) for i in range(d)]
    wqkv = torch.tensor([[100 * g + 10 * s + i] * hidden for g, s, i in rows], dtype=torch.float32)
    q, k, v = split_wqkv(wqkv, heads, kv)
    for head in range(heads):  # query head h = g * G + s
        g, s = divmod(head, groups)
        assert q[head * d : (head + 1) * d, 0].tolist() == [100 * g + 10 * s + i for i in range(d)]
    for g in range(kv):
        assert k[g * d : (g + 1) * d, 0].tolist() == [100 * g + 10 * groups + i for i in range(d)]
        assert v[g * d : (g + 1) * d, 0].tolist() == [100 * g + 10 * (groups + 1) + i for i in range(d)]
    assert torch.equal(fuse_wqkv(q, k, v, heads, kv), wqkv)


# --------------------------------------------------------------------------------------------------
# InternLM2 written out directly from its reference definition (IV internlm2/modeling_internlm2.py):
# fused wqkv viewed as [b, q, KV, G + 2, d], rotate_half RoPE with dynamic NTK, SwiGLU w2(silu(w1) * w3).
# --------------------------------------------------------------------------------------------------
def _rms(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def _rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def _internlm2_logits(
    weights: dict, cfg: dict, ids: torch.Tensor, dtype=torch.float32, fused_qkv: bool = True
) -> torch.Tensor:
    """``fused_qkv=False``: q, k and v from their rows of ``wqkv`` as three products, the same dot
    products as the fused one, in the GEMM shapes our split projections present (bf16 GEMMs may round
    per output width: AMX kernels pick blockings by shape)."""
    hidden, heads, kv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    d, groups, eps, seq = hidden // heads, heads // kv, cfg["rms_norm_eps"], ids.shape[1]
    base, max_pos = cfg["rope_theta"], cfg["max_position_embeddings"]
    if cfg.get("rope_scaling") and seq > max_pos:  # InternLM2DynamicNTKScalingRotaryEmbedding
        factor = cfg["rope_scaling"]["factor"]
        base = base * ((factor * seq / max_pos) - (factor - 1)) ** (d / (d - 2))
    inv_freq = 1.0 / (base ** (torch.arange(0, d, 2).float() / d))
    freqs = torch.outer(torch.arange(seq).float(), inv_freq)
    # as the remote rotary cache: cos/sin in float32, handed to the layers in the activations' dtype
    cos = torch.cat((freqs, freqs), -1).cos().to(dtype)
    sin = torch.cat((freqs, freqs), -1).sin().to(dtype)
    mask = torch.full((seq, seq), float("-inf")).triu(1)
    weights = {k: v.to(dtype) for k, v in weights.items()}

    p = "language_model.model."
    x = weights[p + "tok_embeddings.weight"][ids]
    for layer in range(cfg["num_hidden_layers"]):
        lp = f"{p}layers.{layer}."
        h = _rms(x, weights[lp + "attention_norm.weight"], eps)
        wqkv = weights[lp + "attention.wqkv.weight"]
        if fused_qkv:
            qkv = (h @ wqkv.T).view(1, seq, kv, groups + 2, d)
            q = qkv[..., :groups, :].reshape(1, seq, heads, d).transpose(1, 2)
            k = qkv[..., -2, :].transpose(1, 2)
            v = qkv[..., -1, :].transpose(1, 2)
        else:  # the rows of each of q, k, v in wqkv's [KV, G + 2, d] layout, in order
            rows = wqkv.view(kv, groups + 2, d, hidden)
            q = (h @ rows[:, :groups].reshape(heads * d, hidden).T).view(1, seq, heads, d).transpose(1, 2)
            k = (h @ rows[:, -2].reshape(kv * d, hidden).T).view(1, seq, kv, d).transpose(1, 2)
            v = (h @ rows[:, -1].reshape(kv * d, hidden).T).view(1, seq, kv, d).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        # InternLM2Attention (eager): scores / sqrt(d) + mask, softmax in float32, back to the dtype
        probs = torch.softmax(q @ k.transpose(-1, -2) / d**0.5 + mask, dim=-1, dtype=torch.float32)
        attn = probs.to(dtype) @ v
        x = x + attn.transpose(1, 2).reshape(1, seq, hidden) @ weights[lp + "attention.wo.weight"].T
        h = _rms(x, weights[lp + "ffn_norm.weight"], eps)
        gate, up = h @ weights[lp + "feed_forward.w1.weight"].T, h @ weights[lp + "feed_forward.w3.weight"].T
        x = x + (F.silu(gate) * up) @ weights[lp + "feed_forward.w2.weight"].T
    x = _rms(x, weights[p + "norm.weight"], eps)
    return x @ weights["language_model.output.weight"].T


@pytest.mark.parametrize("max_positions", [32768, 16])  # 16 < 40 tokens: dynamic NTK rescales the base
def test_internlm2_as_llama_matches_a_direct_internlm2_implementation(internlm2_dir, tmp_path, max_positions):
    path = shutil.copytree(internlm2_dir, tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    config["llm_config"]["max_position_embeddings"] = max_positions
    (path / "config.json").write_text(json.dumps(config))
    model = load_internvl(path, dtype="float32")  # compared with a float32 implementation
    weights = {}
    for shard in sorted(path.glob("*.safetensors")):
        weights.update(load_file(str(shard)))
    ids = torch.randint(0, 600, (1, 40), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model.language_model(input_ids=ids).logits
    expected = _internlm2_logits(weights, config["llm_config"], ids)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)


def test_image_token_count_must_match_tiles(internlm2_dir):
    model = load_internvl(internlm2_dir)
    ctx = model.img_context_token_id
    ids = torch.tensor([[1] + [ctx] * 255 + [5]])  # one token short of a tile
    with pytest.raises(VlevalError, match="255 <IMG_CONTEXT> tokens but the images give 256"):
        model(ids, torch.zeros(1, 3, 448, 448))


@pytest.mark.numerics
def test_internlm2_llm_in_bfloat16_is_bit_identical_to_the_reference_eager_order(internlm2_dir):
    """bf16 is what real runs use: InternLM2 runs eager attention as the reference's remote code does
    (with SDPA the logits differ in the last bits and greedy answers flip at near-ties). Bit for bit
    on any kernel because both sides present the same GEMM shapes (q, k, v as three products); the
    fused ``wqkv`` layout itself is checked in float32 above."""
    model = load_internvl(internlm2_dir, dtype="bfloat16")
    assert model.language_model.config._attn_implementation == "eager"
    config = json.loads((internlm2_dir / "config.json").read_text())
    weights = {}
    for shard in sorted(internlm2_dir.glob("*.safetensors")):
        weights.update(load_file(str(shard)))
    ids = torch.randint(0, 600, (1, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model.language_model(input_ids=ids).logits
    expected = _internlm2_logits(weights, config["llm_config"], ids, dtype=torch.bfloat16, fused_qkv=False)
    assert torch.equal(ours, expected)


@pytest.mark.numerics
@pytest.mark.parametrize("qk_normalization", [False, True])  # InternViT-300M / InternViT-6B style
def test_vision_attention_in_bfloat16_follows_the_reference_order_bit_for_bit(qk_normalization):
    """IV modeling_intern_vit.py::InternAttention._naive_attn: (q * scale) @ k^T, softmax in the input
    dtype, @ v. In bf16 this rounds differently from SDPA; the image embeddings depend on it."""
    config = VisionConfig(
        hidden_size=64,
        num_attention_heads=4,
        qk_normalization=qk_normalization,
        qkv_bias=not qk_normalization,
    )
    torch.manual_seed(0)
    attn = InternAttention(config).to(torch.bfloat16).eval()
    with torch.no_grad():
        for param in attn.parameters():
            param.normal_(0.0, 0.5)
        x = torch.randn(2, 50, 64, dtype=torch.bfloat16)
        b, n, c, heads = 2, 50, 64, 4
        q, k, v = attn.qkv(x).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4).unbind(0)
        if qk_normalization:
            q = attn.q_norm(q.transpose(1, 2).flatten(-2, -1)).view(b, n, heads, -1).transpose(1, 2)
            k = attn.k_norm(k.transpose(1, 2).flatten(-2, -1)).view(b, n, heads, -1).transpose(1, 2)
        probs = ((q * (c // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        expected = attn.proj((probs @ v).transpose(1, 2).reshape(b, n, c))
        assert torch.equal(attn(x), expected)
