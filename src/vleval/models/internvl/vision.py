"""InternViT, ours (IV internvl_chat/internvl/model/internvl_chat/modeling_intern_vit.py, §8.1).

Why not transformers' ``InternVLVisionModel``: it is built for the HF-converted layout (separate
q/k/v, ``lambda_1``/``lambda_2``, its own config class) and interpolates the position embedding only
when the grid differs, while InternViT always round-trips it through a float32 bicubic
interpolation. Parameter names here are the checkpoint's own (``vision_model.`` prefix stripped), so
the vision weights load one to one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import ACT2FN

from vleval.models.internvl.config import VisionConfig


class InternRMSNorm(nn.Module):
    """RMSNorm with the variance in float32 and ``weight * x.to(input_dtype)``."""

    def __init__(self, hidden_size: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


def _norm(config: VisionConfig, dim: int) -> nn.Module:
    if config.norm_type == "rms_norm":
        return InternRMSNorm(dim, eps=config.layer_norm_eps)
    return nn.LayerNorm(dim, eps=config.layer_norm_eps)


class InternVisionEmbeddings(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        c = config.hidden_size
        self.image_size = config.image_size
        self.patch_size = config.patch_size
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, c))
        self.patch_embedding = nn.Conv2d(
            config.num_channels, c, kernel_size=config.patch_size, stride=config.patch_size
        )
        self.position_embedding = nn.Parameter(torch.zeros(1, config.num_patches + 1, c))

    def _get_pos_embed(self, pos_embed: torch.Tensor, h: int, w: int) -> torch.Tensor:
        target_dtype = pos_embed.dtype
        grid = self.image_size // self.patch_size
        pos_embed = pos_embed.float().reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        pos_embed = F.interpolate(pos_embed, size=(h, w), mode="bicubic", align_corners=False)
        return pos_embed.reshape(1, -1, h * w).permute(0, 2, 1).to(target_dtype)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        target_dtype = self.patch_embedding.weight.dtype
        patch_embeds = self.patch_embedding(pixel_values.to(target_dtype))  # [B, C, h, w]
        batch, _, h, w = patch_embeds.shape
        patch_embeds = patch_embeds.flatten(2).transpose(1, 2)
        class_embeds = self.class_embedding.expand(batch, 1, -1).to(target_dtype)
        embeddings = torch.cat([class_embeds, patch_embeds], dim=1)
        position_embedding = torch.cat(
            [self.position_embedding[:, :1, :], self._get_pos_embed(self.position_embedding[:, 1:, :], h, w)],
            dim=1,
        )
        return embeddings + position_embedding.to(target_dtype)


class InternAttention(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        self.embed_dim = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = self.embed_dim // self.num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(self.embed_dim, 3 * self.embed_dim, bias=config.qkv_bias)
        self.qk_normalization = config.qk_normalization
        if self.qk_normalization:
            # Over the full embed dim, before the head split (not per head).
            self.q_norm = InternRMSNorm(self.embed_dim, eps=config.layer_norm_eps)
            self.k_norm = InternRMSNorm(self.embed_dim, eps=config.layer_norm_eps)
        self.proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.use_sdpa = False  # InternVLModel.set_attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, N, d]
        if self.qk_normalization:
            q = (
                self.q_norm(q.transpose(1, 2).flatten(-2, -1))
                .view(b, n, self.num_heads, self.head_dim)
                .transpose(1, 2)
            )
            k = (
                self.k_norm(k.transpose(1, 2).flatten(-2, -1))
                .view(b, n, self.num_heads, self.head_dim)
                .transpose(1, 2)
            )
        if self.use_sdpa:  # GPU default: flash / memory-efficient kernels, same maths (scale 1/sqrt(d))
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            # The reference's non-flash path (IV modeling_intern_vit.py::InternAttention._naive_attn) in
            # its own order: scale q first, then q @ k^T, softmax in the input dtype, @ v. Same maths as
            # SDPA but a different bf16 rounding; this order makes bf16 image embeddings bit-identical.
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            out = attn @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class InternMLP(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        self.act = ACT2FN[config.hidden_act]
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class InternVisionEncoderLayer(nn.Module):
    """Pre-norm block with layer scale: x += ls1 * attn(norm1 x); x += ls2 * mlp(norm2 x)."""

    def __init__(self, config: VisionConfig):
        super().__init__()
        c = config.hidden_size
        self.attn = InternAttention(config)
        self.mlp = InternMLP(config)
        self.norm1 = _norm(config, c)
        self.norm2 = _norm(config, c)
        self.ls1 = nn.Parameter(torch.ones(c))
        self.ls2 = nn.Parameter(torch.ones(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x).to(x.dtype)) * self.ls1
        x = x + self.mlp(self.norm2(x).to(x.dtype)) * self.ls2
        return x


class InternVisionEncoder(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        self.layers = nn.ModuleList(InternVisionEncoderLayer(config) for _ in range(config.num_hidden_layers))


class InternVisionModel(nn.Module):
    """Returns hidden states after the embeddings and after every layer; no final norm."""

    def __init__(self, config: VisionConfig):
        super().__init__()
        self.config = config
        self.embeddings = InternVisionEmbeddings(config)
        self.encoder = InternVisionEncoder(config)

    def forward(self, pixel_values: torch.Tensor, select_layer: int = -1) -> torch.Tensor:
        hidden = self.embeddings(pixel_values)
        states = [hidden]
        for layer in self.encoder.layers:
            hidden = layer(hidden)
            if select_layer != -1:
                states.append(hidden)
        return hidden if select_layer == -1 else states[select_layer]
