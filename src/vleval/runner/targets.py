"""What a run evaluates: models (registry names or checkpoint folders) and benchmarks, resolved and
checked before any work starts, with their checksums for ``run.json``."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from vleval.errors import VlevalError
from vleval.models.engine import checkpoint_digest  # noqa: F401  (the run records it; one definition)
from vleval.models.internvl.config import LLM_ARCHITECTURES as _FAMILY_BY_ARCH
from vleval.types import ModelCard


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
    from vleval.models.metadata import read_metadata_object
    from vleval.models.registry import get_model

    try:
        name = name or path.resolve(strict=False).name
        is_dir = path.is_dir()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before Python 3.13), ENAMETOOLONG
        raise VlevalError(f"--model {path}: cannot be resolved ({exc}); give a checkpoint folder.") from None
    if not is_dir:
        what = "is a file, not a folder" if os.path.lexists(path) else "does not exist"
        raise VlevalError(
            f"--model {path}: {what}; give a registry name (vleval models list) or an InternVL2.5 "
            "checkpoint folder (the one holding config.json)."
        )
    config_file = path / "config.json"
    if not os.path.lexists(config_file):
        raise VlevalError(f"{config_file} not found: {path} is not an InternVL checkpoint folder.")
    config = read_metadata_object(config_file)
    known = None
    try:
        known = get_model(name)
    except VlevalError:
        known = None
    if known is not None:
        from vleval.models.registry import check_supported

        check_supported(known)  # a folder named like a refused entry (-HF, InternLM3) is refused too
        return dataclasses.replace(known, name=name)
    llm = config.get("llm_config") or {}
    architectures = llm.get("architectures") if isinstance(llm, dict) else None
    arch = architectures[0] if isinstance(architectures, list) and architectures else architectures
    family = _FAMILY_BY_ARCH.get(arch) if isinstance(arch, str) else None
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
        llm_layers=_layers(llm.get("num_hidden_layers", 0)),
        mpo="MPO" in name.upper(),
    )


def _layers(value: object) -> int:
    """llm_config.num_hidden_layers as the card's depth; 0 (unknown) for anything but an integer, which
    loading the checkpoint then names as the error."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
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
    from vleval.models.registry import check_supported, get_model

    card = get_model(spec)
    check_supported(card)  # an InternLM3 LLM or a -Thinking entry: refused before any download
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
    from vleval.models.registry import MODELS, check_supported

    card = next((c for c in MODELS.values() if c.repo_id.lower() == repo_id.lower()), None)
    if card is not None:
        check_supported(card)
        return ModelTarget(card, locate_checkpoint(card, model_dir)[0], False)
    snapshot = cached_snapshot(repo_id)
    if snapshot is None or missing_files(snapshot):
        return None
    return ModelTarget(card_from_checkpoint(snapshot, name=repo_id.split("/")[-1]), snapshot, True)
