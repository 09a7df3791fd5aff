"""Where checkpoints live on disk, and fetching them from the Hugging Face Hub.

Layout as the source document lays it out: ``pretrained/<name>/`` holding the repository's files as
downloaded (real files, not symlinks into a cache). ``VLEVAL_MODEL_DIR`` or ``--model-dir`` moves the
``pretrained`` folder.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.types import ModelCard

MODEL_DIR_ENV = "VLEVAL_MODEL_DIR"
DEFAULT_MODEL_DIR = "pretrained"
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"


def model_dir_default() -> Path:
    """``$VLEVAL_MODEL_DIR`` if set, else ``./pretrained``."""
    return Path(os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR)


def model_path(card: ModelCard, model_dir: Path | str | None = None) -> Path:
    """The checkpoint folder of a model: ``<model_dir>/<name>``."""
    return Path(model_dir if model_dir is not None else model_dir_default()) / card.name


HF_CACHE_WHERE = "Hugging Face cache"


def hub_cache_dir() -> Path:
    """The Hugging Face Hub cache, by huggingface_hub's rule, read when called (its own constant is
    read once, at import): ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    explicit = os.environ.get("HF_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface"
    return Path(home).expanduser() / "hub"


def cached_snapshot(repo_id: str) -> Path | None:
    """The snapshot folder of ``repo_id`` (its ``main`` revision) in the Hugging Face cache, when the
    cache holds one: found by huggingface_hub itself (``snapshot_download(local_files_only=True)``),
    so nothing is downloaded and it works with ``HF_HUB_OFFLINE=1``. Whether every file is there is
    for ``missing_files`` to say."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, cache_dir=hub_cache_dir(), local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError, ValueError):
        return None


def locate_checkpoint(card: ModelCard, model_dir: Path | str | None = None) -> tuple[Path, str]:
    """Where a registered model's checkpoint is, and what that place is: ``<model_dir>/<name>`` when
    that folder exists ("model dir"), else the model's snapshot in the Hugging Face cache when it is
    complete (``HF_CACHE_WHERE``), else ``<model_dir>/<name>`` ("missing": where a download goes)."""
    path = model_path(card, model_dir)
    if path.is_dir():
        return path, "model dir"
    if card.thinking:  # a -Thinking entry is its plain entry's checkpoint: that folder serves both
        plain = model_path(dataclasses.replace(card, name=card.name.removesuffix("-Thinking")), model_dir)
        if plain.is_dir():
            return plain, "model dir"
    snapshot = cached_snapshot(card.repo_id)
    if snapshot is not None:
        try:
            if not missing_files(snapshot):
                return snapshot, HF_CACHE_WHERE
        except DataCorruptError:
            pass
    return path, "missing"


def manual_download_command(card: ModelCard, model_dir: Path | str | None = None) -> str:
    """The shell command that downloads the checkpoint without vleval (huggingface_hub's CLI)."""
    return f"hf download {card.repo_id} --local-dir {model_path(card, model_dir)}"


def _how_to_get(card: ModelCard, model_dir: Path | str | None) -> str:
    option = f" --model-dir {model_dir}" if model_dir is not None else ""
    return (
        f"Download it with `vleval models download {card.name}{option}`, or by hand with "
        f"`{manual_download_command(card, model_dir)}` (older huggingface_hub: `huggingface-cli download "
        f"--resume-download --local-dir-use-symlinks False {card.repo_id} --local-dir "
        f"{model_path(card, model_dir)}`)."
    )


def missing_files(path: Path) -> list[str]:
    """What a checkpoint folder lacks to be loadable: config.json, and the safetensors weights (one
    file, or an index plus every shard it names). Empty when complete."""
    from vleval.models.metadata import check_checkpoint_metadata

    check_checkpoint_metadata(path)  # FIFOs, devices and oversized metadata files, before anything reads them
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json")
    index = path / WEIGHTS_INDEX_FILE
    if os.path.lexists(index):
        from vleval.models.internvl.weights import read_weight_map

        shards = sorted(set(read_weight_map(index).values()))  # checked: shard file names beside the index
        missing.extend(shard for shard in shards if not (path / shard).is_file())
    elif not (path / WEIGHTS_FILE).is_file():
        missing.append(f"{WEIGHTS_FILE} or {WEIGHTS_INDEX_FILE}")
    return missing


def require_checkpoint(card: ModelCard, model_dir: Path | str | None = None) -> Path:
    """The checkpoint folder (``locate_checkpoint``: the model dir, else the Hugging Face cache), after
    checking it holds config.json and all weight files."""
    path, where = locate_checkpoint(card, model_dir)
    if where == "missing":
        raise DataMissingError(
            f"checkpoint of {card.name} not found at {path} nor in the Hugging Face cache "
            f"({hub_cache_dir()}). {_how_to_get(card, model_dir)}"
        )
    missing = missing_files(path)
    if missing:
        raise DataMissingError(
            f"checkpoint of {card.name} at {path} is incomplete: missing {', '.join(missing)}. "
            f"{_how_to_get(card, model_dir)} (a download resumes where it stopped)."
        )
    return path


@dataclass(frozen=True)
class LocalStatus:
    """What ``vleval models list`` shows about one model's folder."""

    path: Path
    state: str  # "ready", "incomplete" or "missing"
    size_bytes: int
    where: str = "model dir"  # or HF_CACHE_WHERE (locate_checkpoint)


def folder_size(path: Path, *, follow_links: bool = False) -> int:
    """Bytes of the files in ``path``; ``follow_links``: count what links point to (a Hugging Face
    cache snapshot's files are links to its blobs)."""
    return sum(
        f.stat().st_size for f in path.rglob("*") if f.is_file() and (follow_links or not f.is_symlink())
    )


def local_status(card: ModelCard, model_dir: Path | str | None = None) -> LocalStatus:
    path, where = locate_checkpoint(card, model_dir)
    if where == "missing":
        return LocalStatus(path, "missing", 0)
    try:
        state = "incomplete" if missing_files(path) else "ready"
    except DataCorruptError:
        state = "incomplete"
    return LocalStatus(path, state, folder_size(path, follow_links=where == HF_CACHE_WHERE), where)


def download_model(card: ModelCard, model_dir: Path | str | None = None, endpoint: str | None = None) -> Path:
    """Fetch every file of the model's Hub repository into ``<model_dir>/<name>`` (resumes partial
    downloads) and check the result is loadable. ``endpoint`` overrides the Hub URL (mirrors, tests).
    """
    # Imported here: only this command needs the Hub client's network stack.
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    path = model_path(card, model_dir)
    try:
        snapshot_download(card.repo_id, local_dir=path, endpoint=endpoint)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        reason = " ".join(str(exc).split())
        raise VlevalError(
            f"cannot download {card.repo_id}: the Hugging Face Hub is unreachable or offline mode is on "
            f"(HF_HUB_OFFLINE). Hub said: {reason} Check the network (or HF_ENDPOINT for a mirror) and run "
            f"the same command again; files already fetched are kept. Manual alternative: "
            f"`{manual_download_command(card, model_dir)}`."
        ) from exc
    except (GatedRepoError, RepositoryNotFoundError) as exc:
        raise VlevalError(
            f"cannot download {card.repo_id}: the Hub refused access ({type(exc).__name__}). Log in with "
            "`hf auth login` (or set HF_TOKEN) if the repository needs it."
        ) from exc
    except HfHubHTTPError as exc:
        raise VlevalError(
            f"cannot download {card.repo_id}: {' '.join(str(exc).split())} Run the same command again to resume."
        ) from exc
    return require_checkpoint(card, model_dir)
