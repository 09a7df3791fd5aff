"""Is a checkpoint folder the model its name says? Checked against the registry
(``vleval.models.registry.structure_of``): architecture and LLM class, hidden sizes, layer and head
counts, vision tower, vocabulary, and the parameter count summed from the safetensors headers (only
the headers are read, each at most ``MAX_HEADER_BYTES``; no weight is loaded and nothing is executed).

A checkpoint that does not match still runs with the registered model's settings (tests, ablations
and fine-tunes need exactly that); its results are marked "unverified checkpoint" and never set
beside the published figure (``vleval.settings.comparable_with_published``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vleval.types import CheckpointStatus, ModelCard

# the file ``vleval.synthetic.checkpoints`` writes into every random-weight checkpoint it builds
SYNTHETIC_MARKER = ".vleval-synthetic.json"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the 78B checkpoint's largest shard header is well below 1 MiB
MAX_CONFIG_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CheckpointCheck:
    status: CheckpointStatus
    problems: tuple[str, ...] = ()
    synthetic: bool = False
    checked: tuple[str, ...] = ()  # what was compared with the registry

    def line(self, name: str) -> str:
        """One line for the start of a run and the dry run."""
        what = "a random-weight synthetic checkpoint, " if self.synthetic else ""
        if self.status == "structure verified":
            return f"{name}: {what}structure verified against the registry ({', '.join(self.checked)})"
        if self.status == "unregistered":
            return f"{name}: {what}not a registered model name: nothing to verify against"
        return (
            f"{name}: {what}UNVERIFIED checkpoint: {'; '.join(self.problems)}. It runs with {name}'s "
            "settings, but its results are marked 'unverified checkpoint' and never compared with the "
            "published figures."
        )


def parameter_count(folder: Path) -> int:
    """The number of parameters in the folder's safetensors files, from their headers alone."""
    total = 0
    for shard in sorted(folder.glob("*.safetensors")):
        for name, entry in read_header(shard).items():
            if name == "__metadata__" or not isinstance(entry, dict):
                continue
            shape = entry.get("shape")
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ValueError(f"{shard.name}: tensor {name!r} has no valid shape")
            total += math.prod(shape)
    return total


def read_header(shard: Path) -> dict[str, Any]:
    with shard.open("rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        if size <= 0 or size > MAX_HEADER_BYTES:
            raise ValueError(f"{shard.name}: header size {size} is not a safetensors header")
        header = json.loads(fh.read(size))
    if not isinstance(header, dict):
        raise ValueError(f"{shard.name}: header is not an object")
    return header


def _config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_CONFIG_BYTES} bytes")
    config = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(config, dict):
        raise ValueError("config.json is not an object")
    return config


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def verify_checkpoint(folder: Path, card: ModelCard) -> CheckpointCheck:
    """``folder`` against what the registry knows of the model named ``card.name``."""
    from vleval.errors import VlevalError
    from vleval.models.internvl.hf_native import as_custom_layout, is_hf_layout
    from vleval.models.registry import PARAMS_TOLERANCE, get_model, structure_of

    folder = Path(folder)
    synthetic = (folder / SYNTHETIC_MARKER).is_file()
    try:
        registered = get_model(card.name)
    except VlevalError:
        return CheckpointCheck("unregistered", synthetic=synthetic)
    expected = structure_of(registered)
    if expected is None:
        return CheckpointCheck("unregistered", synthetic=synthetic)
    try:
        config = _config(folder)
        if is_hf_layout(config):  # the -HF layout's fields, read as its original-layout twin's
            config = as_custom_layout(config, str(folder / "config.json"))
        llm, vision = config.get("llm_config") or {}, config.get("vision_config") or {}
        pairs: list[tuple[str, Any, Any]] = [
            ("architecture", _first(config.get("architectures")), expected.architecture),
            ("LLM class", _first(llm.get("architectures")), expected.llm_architecture),
            ("LLM layers", llm.get("num_hidden_layers"), expected.llm_layers),
            ("LLM hidden size", llm.get("hidden_size"), expected.llm_hidden),
            ("LLM attention heads", llm.get("num_attention_heads"), expected.llm_heads),
            ("LLM KV heads", llm.get("num_key_value_heads"), expected.llm_kv_heads),
            ("vocabulary size", llm.get("vocab_size"), expected.vocab_size),
            ("vision hidden size", vision.get("hidden_size"), expected.vision_hidden),
            ("vision layers", vision.get("num_hidden_layers"), expected.vision_layers),
            ("vision attention heads", vision.get("num_attention_heads"), expected.vision_heads),
        ]
        checked = tuple(name for name, _, want in pairs if want is not None)
        problems = [f"{name} {got} (the registry's {registered.name}: {want})"
                    for name, got, want in pairs if want is not None and got != want]  # fmt: skip
        if expected.params is not None:
            count = parameter_count(folder)
            checked += ("parameter count",)
            want = expected.params * 1e9
            if abs(count - want) > PARAMS_TOLERANCE * want:
                problems.append(
                    f"{count:,} parameters (the registry's {registered.name}: {registered.params})"
                )
    except (OSError, ValueError, UnicodeDecodeError, VlevalError) as exc:
        return CheckpointCheck("unverified", (f"cannot be checked: {exc}",), synthetic, ())
    if synthetic and not problems:  # a random-weight build can never be the published model
        problems.append("built by vleval.synthetic with random weights")
    return CheckpointCheck(
        "unverified" if problems else "structure verified", tuple(problems), synthetic, checked
    )
