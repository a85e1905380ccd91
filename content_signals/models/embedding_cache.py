"""Sentence embeddings of a corpus, computed once and reused from a cache folder.

Encoding the three labelled corpora (about 31k texts) takes minutes on a CPU, and a training run
with cross-corpus evaluation, or a benchmark, wants the same vectors several times. A cached array
is keyed by everything that determines it: the encoder's weights digest and sequence length, the
text normalisation version and the normalised texts themselves, so a changed text, encoder or
normalisation is simply a different key (never a stale hit).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from content_signals.files import write_atomic
from content_signals.models.text_encoder import TextEncoder
from content_signals.text import NORMALISATION_VERSION, normalise_text

CHUNK = 4_096


def cache_key(encoder: TextEncoder, texts: list[str]) -> str:
    digest = hashlib.sha256(
        f"{encoder.info.weights_sha256}|{encoder.info.max_seq_length}|{NORMALISATION_VERSION}\n".encode()
    )
    for text in texts:
        digest.update(normalise_text(text).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


def embed_texts(
    encoder: TextEncoder,
    texts: list[str],
    progress: Callable[[str], None] = lambda _line: None,
    cache_dir: Path | None = None,
) -> np.ndarray:
    """Embeddings of the normalised ``texts`` (in chunks, reporting progress), read from and
    written to ``cache_dir`` when one is given."""
    path = cache_dir / f"{cache_key(encoder, texts)}.npy" if cache_dir is not None else None
    if path is not None and path.exists():
        cached = np.load(path)
        if cached.shape == (len(texts), encoder.dimension):
            progress(f"embeddings of {len(texts):,} texts read from {path}")
            return np.ascontiguousarray(cached, np.float32)
    parts = []
    started = datetime.now(UTC)
    for first in range(0, len(texts), CHUNK):
        parts.append(encoder.encode([normalise_text(t) for t in texts[first : first + CHUNK]]))
        done = min(first + CHUNK, len(texts))
        elapsed = (datetime.now(UTC) - started).total_seconds()
        progress(f"encoded {done:,}/{len(texts):,} texts ({done / max(elapsed, 1e-9):,.0f}/s)")
    vectors = np.concatenate(parts) if parts else np.zeros((0, encoder.dimension), np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, vectors)
        write_atomic(path, buffer.getvalue())
    return vectors
