"""What a run evaluates: models (registry names or checkpoint folders) and benchmarks, resolved and
checked before any work starts, with their checksums for ``run.json``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from vleval.errors import DataCorruptError, VlevalError
from vleval.types import ModelCard

_FAMILY_BY_ARCH = {"Qwen2ForCausalLM": "qwen2", "InternLM2ForCausalLM": "internlm2"}


@dataclass(frozen=True)
class ModelTarget:
    card: ModelCard
    path: Path  # checkpoint folder (may not exist yet: validation reports it)
    from_path: bool  # given as a folder rather than a registry name

    @property
    def name(self) -> str:
        return self.card.name


def looks_like_path(spec: str) -> bool:
    return "/" in spec or spec.startswith(".") or Path(spec).is_dir()


def card_from_checkpoint(path: Path, name: str | None = None) -> ModelCard:
    """A ModelCard for a checkpoint folder (a fine-tuned or tiny model): named after the folder (or
    ``name``: a Hub cache snapshot's folder is a commit hash), LLM family and depth read from its
    ``config.json``; a folder named like a registry model keeps that model's card (MPO prompt, GPUs
    per task)."""
    from vleval.models.registry import get_model

    name = name or path.resolve().name
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VlevalError(f"{config_file} not found: {path} is not an InternVL checkpoint folder.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataCorruptError(
            f"{config_file} is not valid JSON ({exc}); re-download the checkpoint."
        ) from None
    known = None
    try:
        known = get_model(name)
    except VlevalError:
        known = None
    if known is not None:
        return dataclasses.replace(known, name=name)
    llm = config.get("llm_config") or {}
    arch = (llm.get("architectures") or [""])[0]
    family = _FAMILY_BY_ARCH.get(arch)
    if family is None:
        raise VlevalError(
            f"{config_file}: llm_config.architectures is {arch!r}; vleval runs InternVL2.5 checkpoints "
            f"whose LLM is one of {', '.join(_FAMILY_BY_ARCH)}."
        )
    return ModelCard(
        name=name,
        repo_id=f"local:{path.resolve()}",
        llm_family=family,  # type: ignore[arg-type]
        params="?",
        download_gb=0.0,
        gpus_per_task=8 if re.search(r"38B|78B", name) else 1,
        llm_layers=int(llm.get("num_hidden_layers", 0)),
        mpo="MPO" in name.upper(),
    )


_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def resolve_model(spec: str, model_dir: Path | None) -> ModelTarget:
    """A registry name/alias (checkpoint under ``model_dir``, else in the Hugging Face cache), a Hub
    repo id (``OpenGVLab/InternVL2_5-8B``: a registered model's, or any repo the Hugging Face cache
    holds) or a checkpoint folder. Nothing is downloaded here."""
    if looks_like_path(spec):
        path = Path(spec)
        if is_hub_repo_id(spec):
            found = _hub_target(spec, model_dir)
            if found is not None:
                return found
            raise VlevalError(
                f"{spec} is neither a checkpoint folder nor a Hub repository in the Hugging Face cache "
                f"({_cache_dir()}); download it with `hf download {spec}` (or pass a registry name: "
                "vleval models list)."
            )
        return ModelTarget(card_from_checkpoint(path), path, True)
    from vleval.models.download import locate_checkpoint
    from vleval.models.registry import get_model

    card = get_model(spec)
    return ModelTarget(card, locate_checkpoint(card, model_dir)[0], False)


def is_hub_repo_id(spec: str) -> bool:
    """``owner/name`` that is not an existing path: a Hugging Face Hub repository id."""
    return bool(_REPO_ID.fullmatch(spec)) and not Path(spec).exists()


def _cache_dir() -> Path:
    from vleval.models.download import hub_cache_dir

    return hub_cache_dir()


def _hub_target(repo_id: str, model_dir: Path | None) -> ModelTarget | None:
    """A registered model named by its repo id (found as its name would be), else a complete snapshot
    of ``repo_id`` in the Hugging Face cache, named after the repository."""
    from vleval.models.download import cached_snapshot, locate_checkpoint, missing_files
    from vleval.models.registry import MODELS

    card = next((c for c in MODELS.values() if c.repo_id.lower() == repo_id.lower()), None)
    if card is not None:
        return ModelTarget(card, locate_checkpoint(card, model_dir)[0], False)
    snapshot = cached_snapshot(repo_id)
    if snapshot is None or missing_files(snapshot):
        return None
    return ModelTarget(card_from_checkpoint(snapshot, name=repo_id.split("/")[-1]), snapshot, True)


def checkpoint_digest(path: Path) -> str:
    """Cheap identity of a checkpoint: sha256 over config.json, the safetensors index (or the header of
    a single model.safetensors) and the weight files' sizes; not over the weights themselves."""
    h = hashlib.sha256()
    for name in ("config.json", "generation_config.json", "model.safetensors.index.json"):
        file = path / name
        if file.is_file():
            h.update(name.encode() + b"\0" + file.read_bytes())
    for weights in sorted(path.glob("*.safetensors")):
        h.update(f"{weights.name}:{weights.stat().st_size}".encode())
        with weights.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            h.update(fh.read(min(size, 1 << 24)))  # the JSON header: names, dtypes, shapes, offsets
    return h.hexdigest()
