"""The vectors every contender gets: clustered synthetic unit vectors with near-duplicate groups (the
generator of ``bench/compare_vector_libraries.py``) plus the real musicoset titles, encoded as the
content_embedding job encodes them (``text_of(title, None)``, the shared text encoder on CPU), and
the 1% update (new, changed and removed items)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from bench.compare_vector_libraries import CENTRES, SPREAD, draw_clustered, normalise
from bench.similarity.common import DIM, REPO_ROOT, say

TITLES = REPO_ROOT.parent / "shared" / "data" / "catalog" / "musicoset_hits.tsv"
# A share of the synthetic items are near-copies of another one (re-uploads, the same title with a
# suffix): its vector plus a small noise (cosine about 0.98), in groups of 2 to 5.
DUPLICATE_SHARE = 0.1
DUPLICATE_NOISE = 0.01
TYPES = ("track", "episode", "audiobook")
TYPE_SHARES = (0.6, 0.3, 0.1)
UPDATE_SHARE = 0.01  # a third added, a third replaced, a third removed


@dataclass
class Items:
    """One catalogue's vectors and what the index stores beside them, row-aligned."""

    ids: list[str]
    vectors: np.ndarray
    types: list[str]
    creators: list[str]
    fingerprints: list[str]

    def table(self) -> pa.Table:
        """The items as ``build_index_version`` reads them."""
        flat = pa.array(self.vectors.reshape(-1), type=pa.float32())
        offsets = pa.array(np.arange(0, (len(self.ids) + 1) * DIM, DIM, dtype=np.int32))
        return pa.table(
            {
                "content_id": pa.array(self.ids, pa.string()),
                "text_embedding": pa.ListArray.from_arrays(offsets, flat),
                "embedded_text_fingerprint": pa.array(self.fingerprints, pa.string()),
                "content_type": pa.array(self.types, pa.string()),
                "creator_id": pa.array(self.creators, pa.string()),
            }
        )


def read_titles(path: Path) -> tuple[list[str], list[str]]:
    """(song ids, titles) of the musicoset file: tab-separated, quotes literal (its mapping)."""
    ids, titles = [], []
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    id_at, title_at = header.index("song_id"), header.index("song_name")
    seen = set()
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) <= max(id_at, title_at) or fields[id_at] in seen:
            continue
        seen.add(fields[id_at])
        ids.append(fields[id_at])
        titles.append(fields[title_at])
    return ids, titles


def encoded_titles(path: Path, cache_dir: Path, limit: int | None = None) -> dict[str, Any] | None:
    """The titles' embeddings, from the cache in ``cache_dir`` when it has them (keyed by the file's
    sha256, the limit and the encoder settings); None when the file is missing."""
    if not path.exists():
        say(f"  {path} is missing: synthetic vectors only")
        return None
    from content_signals.config import TextEncoderConfig
    from content_signals.text import text_of

    settings = TextEncoderConfig(device="cpu")
    digest = hashlib.sha256(path.read_bytes() + settings.model_dump_json().encode()).hexdigest()[:16]
    cache = cache_dir / f"musicoset-titles-{digest}-{limit or 'all'}.npz"
    ids, titles = read_titles(path)
    ids, titles = ids[:limit], titles[:limit]
    if cache.exists():
        cached = np.load(cache)
        say(f"  {len(ids):,} encoded titles from the cache {cache}")
        return {"ids": ids, "vectors": cached["vectors"], "encoder": json.loads(str(cached["encoder"]))}
    from content_signals.models.text_encoder import shared_encoder

    encoder = shared_encoder(settings)
    say(f"  encoding {len(titles):,} musicoset titles on CPU (cached afterwards in {cache_dir})")
    texts = [text_of(t, None) for t in titles]
    parts = []
    for start in range(0, len(texts), 1024):
        parts.append(encoder.encode(texts[start : start + 1024]))
        say(f"    encoded {min(len(texts), start + 1024):,} of {len(texts):,}")
    vectors = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
    info = {"name": encoder.info.name, "weights_sha256": encoder.info.weights_sha256}
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, encoder=json.dumps(info))
    return {"ids": ids, "vectors": vectors, "encoder": info}


def _fingerprint(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def generate(n: int, titles: dict[str, Any] | None, seed: int = 19) -> tuple[Items, Items, dict[str, int]]:
    """The catalogue (``n`` items: every title, the rest synthetic) and its next day: 1% changed
    (a third new, a third with a new vector, a third removed). Returns (before, after, counts)."""
    rng = np.random.default_rng(seed)
    title_count = min(n, len(titles["ids"])) if titles else 0
    synthetic = n - title_count
    centres = normalise(rng.standard_normal((CENTRES, DIM)))
    spreads = rng.uniform(*SPREAD, size=CENTRES)
    clusters = rng.integers(0, CENTRES, size=synthetic)
    vectors = np.empty((n, DIM), dtype=np.float32)
    vectors[:synthetic] = draw_clustered(rng, centres, spreads, clusters)
    # Near-duplicate groups: copy an item's vector onto the next 1-4 items, plus a little noise.
    copies = int(synthetic * DUPLICATE_SHARE)
    if copies and synthetic > 5:
        targets = rng.choice(synthetic, size=copies, replace=False)
        sources = np.clip(targets - rng.integers(1, 5, size=copies), 0, None)
        for start in range(0, copies, 100_000):
            t, s = targets[start : start + 100_000], sources[start : start + 100_000]
            noise = rng.standard_normal((len(t), DIM), dtype=np.float32) * DUPLICATE_NOISE
            vectors[t] = normalise(vectors[s] + noise)
            clusters[t] = clusters[s]
    if titles:
        vectors[synthetic:] = titles["vectors"][:title_count]
    ids = [f"syn-{i:07d}" for i in range(synthetic)]
    if titles:
        ids += [f"mus-{t}" for t in titles["ids"][:title_count]]
    type_codes = rng.choice(len(TYPES), size=n, p=TYPE_SHARES)
    types = [TYPES[c] for c in type_codes]
    if titles:
        types[synthetic:] = ["track"] * title_count
    creators = [f"creator-{c}" for c in rng.integers(0, max(1, n // 20), size=n)]
    fingerprints = [_fingerprint(i) for i in ids]
    before = Items(ids, vectors, types, creators, fingerprints)

    third = max(1, int(n * UPDATE_SHARE / 3))
    changed = rng.choice(max(1, synthetic), size=min(synthetic, 2 * third), replace=False)
    replaced, removed = np.sort(changed[:third]), np.sort(changed[third:])
    new_vectors = vectors.copy()
    new_vectors[replaced] = draw_clustered(rng, centres, spreads, clusters[replaced])
    new_fingerprints = list(fingerprints)
    for r in replaced:
        new_fingerprints[r] = _fingerprint(ids[r] + ":edited")
    keep = np.ones(n, dtype=bool)
    keep[removed] = False
    kept = np.flatnonzero(keep)
    added_vectors = draw_clustered(rng, centres, spreads, rng.integers(0, CENTRES, size=third))
    added_ids = [f"new-{i:07d}" for i in range(third)]
    after = Items(
        ids=[ids[i] for i in kept] + added_ids,
        vectors=np.concatenate([new_vectors[kept], added_vectors]),
        types=[types[i] for i in kept]
        + [TYPES[c] for c in rng.choice(len(TYPES), size=third, p=TYPE_SHARES)],
        creators=[creators[i] for i in kept]
        + [f"creator-{c}" for c in rng.integers(0, max(1, n // 20), size=third)],
        fingerprints=[new_fingerprints[i] for i in kept] + [_fingerprint(i) for i in added_ids],
    )
    counts = {
        "synthetic": synthetic,
        "titles": title_count,
        "near_duplicates": copies,
        "added": third,
        "replaced": len(replaced),
        "removed": len(removed),
    }
    return before, after, counts
