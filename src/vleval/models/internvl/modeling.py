"""InternVL2.5 = InternViT + pixel shuffle + ``mlp1`` projector + LLM (§8).

Mirrors ``IV internvl_chat/internvl/model/internvl_chat/modeling_internvl_chat.py::InternVLChatModel``
(``extract_feature``, ``pixel_shuffle``, the image-embedding scatter of ``generate``) with our own
vision module and a transformers LLM.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GenerationConfig

from vleval.errors import VlevalError
from vleval.models.internvl.config import InternVLConfig
from vleval.models.internvl.llm import build_llm, llm_attention
from vleval.models.internvl.vision import InternAttention, InternVisionModel

# How attention is computed (``--attention``):
#   reference  the reference's CPU kernels and op order (vision: scale q, q @ k^T, softmax, @ v;
#              InternLM2 eager, Qwen2 SDPA as transformers 4.46 runs it): bf16 outputs bit-identical
#              to the reference's on the kernels measured (docs/numerics.md); the CPU default.
#   sdpa       PyTorch's scaled_dot_product_attention for the ViT and both LLM families: on CUDA the
#              flash / memory-efficient kernels (the reference runs flash attention on GPUs: the
#              official InternVL2.5 configs set use_flash_attn and flash_attention_2); same maths,
#              other rounding. The CUDA default.
#   auto       sdpa on CUDA, reference elsewhere.
ATTENTION_MODES = ("auto", "reference", "sdpa")


def resolve_attention(attention: str | None, device: str) -> str:
    """'reference' or 'sdpa' for ``attention`` (None or 'auto': by device)."""
    if attention in (None, "auto"):
        return "sdpa" if str(device).startswith("cuda") else "reference"
    if attention not in ATTENTION_MODES:
        raise VlevalError(f"unknown attention {attention!r}; choose one of {', '.join(ATTENTION_MODES)}")
    return attention


def pixel_shuffle(x: torch.Tensor, scale_factor: float = 0.5, ps_version: str = "v2") -> torch.Tensor:
    """``[n, w, h, c]`` -> ``[n, h*s, w*s, c/s^2]`` with the reference's exact view/permute order (§8.2)."""
    n, w, h, c = x.size()
    x = x.view(n, w, int(h * scale_factor), int(c / scale_factor))
    x = x.permute(0, 2, 1, 3).contiguous()
    x = x.view(n, int(h * scale_factor), int(w * scale_factor), int(c / (scale_factor * scale_factor)))
    if ps_version != "v1":  # v1 leaves the map transposed
        x = x.permute(0, 2, 1, 3).contiguous()
    return x


class InternVLModel(nn.Module):
    """Parameter names: ``vision_model.*`` and ``mlp1.*`` as in the checkpoint; ``language_model.*``
    as transformers' Qwen2/Llama causal LM (see ``weights.py`` for the InternLM2 renaming)."""

    def __init__(self, config: InternVLConfig, attn_implementation: str | None = None):
        super().__init__()
        self.config = config
        self.vision_model = InternVisionModel(config.vision)
        vit_hidden = config.vision.hidden_size
        llm_hidden = config.llm_hidden_size
        shuffled = vit_hidden * int(1 / config.downsample_ratio) ** 2
        self.mlp1 = nn.Sequential(
            nn.LayerNorm(shuffled),
            nn.Linear(shuffled, llm_hidden),
            nn.GELU(),
            nn.Linear(llm_hidden, llm_hidden),
        )
        self.language_model = build_llm(config.llm_family, config.llm, attn_implementation)
        self.img_context_token_id: int | None = None  # set from the tokenizer (loader / backend)
        self.attention = "reference"

    def set_attention(self, attention: str) -> None:
        """Switch the ViT and the LLM between the reference kernels and SDPA (see ``ATTENTION_MODES``;
        'auto' must be resolved first with ``resolve_attention``)."""
        if attention not in ("reference", "sdpa"):
            raise VlevalError(f"attention must be 'reference' or 'sdpa', not {attention!r}")
        for module in self.vision_model.modules():
            if isinstance(module, InternAttention):
                module.use_sdpa = attention == "sdpa"
        self.language_model.set_attn_implementation(llm_attention(self.config.llm_family, attention))
        self.attention = attention

    @property
    def num_image_token(self) -> int:
        return self.config.num_image_token

    @property
    def family(self) -> str:
        return self.config.llm_family

    def extract_feature(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``[N, 3, 448, 448]`` tiles -> ``[N, 256, D_llm]`` image embeddings."""
        vit_device = self.vision_model.embeddings.patch_embedding.weight.device
        vit_embeds = self.vision_model(pixel_values.to(vit_device), select_layer=self.config.select_layer)
        vit_embeds = vit_embeds[:, 1:, :]  # drop CLS
        h = w = int(vit_embeds.shape[1] ** 0.5)
        vit_embeds = vit_embeds.reshape(vit_embeds.shape[0], h, w, -1)
        vit_embeds = pixel_shuffle(vit_embeds, self.config.downsample_ratio, self.config.ps_version)
        vit_embeds = vit_embeds.reshape(vit_embeds.shape[0], -1, vit_embeds.shape[-1])
        mlp_device = self.mlp1[0].weight.device
        return self.mlp1(vit_embeds.to(mlp_device))

    def embed(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        image_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Text embeddings with each ``<IMG_CONTEXT>`` position replaced, left to right, by the tiles'
        256-token blocks in ``pixel_values`` order (§8.4). ``image_embeds`` (``[N, 256, D_llm]``, from
        ``extract_feature``) may be given instead of the pixels: features computed earlier."""
        embedding = self.language_model.get_input_embeddings()
        input_ids = input_ids.to(embedding.weight.device)
        embeds = embedding(input_ids)
        if pixel_values is None and image_embeds is None:
            return embeds
        if self.img_context_token_id is None:
            raise VlevalError(
                "InternVLModel.img_context_token_id is unset; load the model with load_internvl"
            )
        vit_embeds = image_embeds if image_embeds is not None else self.extract_feature(pixel_values)
        b, n, d = embeds.shape
        flat = embeds.reshape(b * n, d)
        selected = input_ids.reshape(b * n) == self.img_context_token_id
        vit_flat = vit_embeds.reshape(-1, d).to(flat.device, flat.dtype)
        if int(selected.sum()) != vit_flat.shape[0]:
            raise VlevalError(
                f"prompt has {int(selected.sum())} <IMG_CONTEXT> tokens but the images give {vit_flat.shape[0]} "
                f"embeddings ({vit_embeds.shape[0]} tiles x {self.num_image_token}); the prompt and the "
                "tiling disagree"
            )
        flat = flat.clone()
        flat[selected] = vit_flat
        return flat.reshape(b, n, d)

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[B, T, V]`` (for tests and scoring-free checks)."""
        embeds = self.embed(input_ids, pixel_values)
        position_ids = None
        if attention_mask is not None:
            attention_mask = attention_mask.to(embeds.device)
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = self.language_model(
            inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids
        )
        return out.logits

    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor | None,
        *,
        max_new_tokens: int,
        eos_token_id: int,
        pad_token_id: int,
        min_new_tokens: int = 0,
        image_embeds: torch.Tensor | None = None,
        do_sample: bool = False,
        temperature: float | None = None,
        top_p: float | None = None,
    ) -> torch.Tensor:
        """Greedy decoding from ``inputs_embeds`` (as the reference's ``chat``): returns only the new
        tokens ``[B, <= max_new_tokens]``, rows that stopped early padded with ``pad_token_id``.
        ``image_embeds``: precomputed image features instead of ``pixel_values`` (see ``embed``).
        ``do_sample``: sampled at ``temperature``/``top_p`` instead (the thinking entries), from torch's
        global generator as the caller seeded it."""
        embeds = self.embed(input_ids, pixel_values, image_embeds)
        sampling = {"temperature": temperature, "top_p": top_p} if do_sample else {}
        gen = GenerationConfig(
            do_sample=do_sample,
            **sampling,
            num_beams=1,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            use_cache=True,
        )
        return self.language_model.generate(
            inputs_embeds=embeds,
            attention_mask=attention_mask.to(embeds.device),
            generation_config=gen,
        )
