"""How well ``content_duplicates`` finds what it should, on known truth and on real titles.

1. Synthetic catalogue (``--items``, default 20,000; the generator plants spam creators that upload
   bursts of lookalike items: :func:`content_signals.synthetic.spam_truth`): texts encoded with the
   real encoder (``title. description``, as the content_embedding job does), the day's index built
   with :func:`content_signals.similarity.index.build_index_version`, pairs and groups from
   :func:`content_signals.similarity.duplicates.neighbour_pairs`, and the table's signals computed by
   the job's own transform on Spark. Reported: precision and recall of ``is_burst`` and of
   ``near_duplicate_count > 0`` against the planted spam items, and the similarities of true
   lookalikes (same spam creator) against unrelated items, for the threshold.
2. MusicOSet hits (``../shared/data/catalog/musicoset_hits.tsv``, real Spotify titles; text = the
   title, as the content_embedding job embeds an item without description; creator = the first
   artist; release date when the file gives a full date, else unknown): the near-duplicate groups
   found (count, sizes, examples), and a seeded sample of pairs at or above the threshold, written
   out for hand labelling; with ``--labels`` (a TSV of ``content_id``, ``neighbour_id``, ``label``)
   the precision those labels imply.

Vectors are cached under ``--cache`` (encoding 20,000 synthetic texts takes minutes on 2 cores).

Usage: python -m bench.evaluate_duplicates [--items 20000] [--creators 2000] [--seed 7]
       [--cache /tmp/content_signals_duplicates] [--sample 50] [--labels bench/near_duplicate_labels.tsv]
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from content_signals.config import SimilarityConfig, SparkConfig, TextEncoderConfig
from content_signals.definitions import (
    BURST_MIN_DUPLICATES,
    BURST_SIMILARITY,
    BURST_WINDOW_DAYS,
    DUPLICATE_NEIGHBOURS,
    NEAR_DUPLICATE_SIMILARITY,
)
from content_signals.layout import DataLayout
from content_signals.similarity.duplicates import neighbour_pairs
from content_signals.similarity.index import VectorIndex, build_index_version, exact_neighbours
from content_signals.synthetic import GenerationSpec, generate_content, spam_truth
from content_signals.text import text_of

ROOT = Path(__file__).resolve().parents[1]
MUSICOSET = ROOT.parent / "shared" / "data" / "catalog" / "musicoset_hits.tsv"
RESULTS = ROOT / "bench" / "results" / "near_duplicates.json"
DAY = date(2026, 1, 20)
SWEEP = (0.8, 0.85, 0.9, 0.92, 0.95, 0.98)


def encoded(texts: list[str], cache: Path, name: str) -> np.ndarray:
    """Unit vectors of ``texts`` from the default encoder, cached as ``name``.npy."""
    path = cache / f"{name}.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(texts):
            return vectors
    from content_signals.models.text_encoder import shared_encoder

    started = time.perf_counter()
    vectors = shared_encoder(TextEncoderConfig()).encode(texts)
    print(f"encoded {len(texts):,} texts in {time.perf_counter() - started:.0f} s")
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def pairs_of(
    ids: list[str], vectors: np.ndarray, content_type: list[str], creators: list[str | None]
) -> pa.Table:
    """Every item's nearest neighbours and groups, through a real index version."""
    with tempfile.TemporaryDirectory() as root:
        layout = DataLayout(Path(root))
        items = pa.table(
            {
                "content_id": ids,
                "text_embedding": pa.array(list(vectors), pa.list_(pa.float32())),
                "embedded_text_fingerprint": ids,
                "content_type": content_type,
                "creator_id": pa.array(creators, pa.string()),
            }
        )
        settings = SimilarityConfig()
        manifest = build_index_version(
            layout,
            "content_embedding",
            DAY,
            items,
            source_run_id="evaluation",
            encoder_digest="-",
            settings=settings,
        )
        print(f"index: {manifest.items:,} items, recall@10 on a sample {manifest.sample_recall_at_10}")
        index = VectorIndex(layout.vector_index_version("content_embedding", DAY), view=False)
        return neighbour_pairs(index, DUPLICATE_NEIGHBOURS, NEAR_DUPLICATE_SIMILARITY)


def signals_of(spark: Any, catalogue: pa.Table, pairs: pa.Table) -> dict[str, dict[str, Any]]:
    """The table's signals for every item, by the job's own transform."""
    from content_signals.jobs.content_duplicates import JOB, PAIRS_SCHEMA

    content = spark.createDataFrame(
        catalogue.select(["content_id", "creator_id", "release_date"]).to_pylist()
    )
    embeddings = content.select("content_id")
    frame = JOB.compute(
        DAY,
        datetime.now(UTC),
        content=content,
        embeddings=embeddings,
        pairs=spark.createDataFrame(pairs.to_pylist(), schema=PAIRS_SCHEMA),
    )
    return {row["content_id"]: row.asDict() for row in frame.collect()}


def precision_recall(flagged: set[str], truth: set[str]) -> dict[str, float | int]:
    hits = len(flagged & truth)
    return {
        "flagged": len(flagged),
        "true_positives": hits,
        "precision": round(hits / len(flagged), 4) if flagged else float("nan"),
        "recall": round(hits / len(truth), 4) if truth else float("nan"),
    }


def percentiles(values: np.ndarray) -> dict[str, float]:
    points = (0, 1, 5, 25, 50, 75, 95, 99, 100)
    return {f"p{p}": round(float(v), 4) for p, v in zip(points, np.percentile(values, points), strict=True)}


def synthetic(args: argparse.Namespace, spark: Any) -> dict[str, Any]:
    spec = GenerationSpec(items=args.items, creators=args.creators, seed=args.seed)
    catalogue = generate_content(spec)
    truth = spam_truth(spec)
    ids = catalogue.column("content_id").to_pylist()
    texts = [
        text_of(t, d)
        for t, d in zip(
            catalogue.column("title").to_pylist(), catalogue.column("description").to_pylist(), strict=True
        )
    ]
    vectors = encoded(texts, args.cache, f"synthetic_{args.items}_{args.creators}_seed{args.seed}")
    creators = catalogue.column("creator_id").to_pylist()
    pairs = pairs_of(ids, vectors, catalogue.column("content_type").to_pylist(), creators)
    rows = signals_of(spark, catalogue, pairs)
    spam = set(truth.content_ids)
    position = {c: i for i, c in enumerate(ids)}
    # Threshold evidence: every pair of lookalikes (spam items of one creator), against pairs of
    # unrelated items (random non-spam pairs) and the nearest neighbour of each non-spam item.
    by_owner: dict[str, list[int]] = {}
    for cid, owner in zip(truth.content_ids, truth.creator_ids, strict=True):
        by_owner.setdefault(owner, []).append(position[cid])
    lookalike = np.concatenate(
        [(vectors[m] @ vectors[m].T)[np.triu_indices(len(m), 1)] for m in by_owner.values() if len(m) > 1]
    )
    rng = np.random.default_rng(0)
    others = np.array([position[c] for c in ids if c not in spam])
    a, b = rng.choice(others, 50_000), rng.choice(others, 50_000)
    keep = a != b
    unrelated = np.einsum("ij,ij->i", vectors[a[keep]], vectors[b[keep]])
    _rows, sims = exact_neighbours(vectors[others], vectors[others], 2)
    nearest_other = sims[:, 1]
    text_of_id = dict(zip(ids, texts, strict=True))
    flagged_other = [
        ids[i] for i, s in zip(others, nearest_other, strict=True) if s >= NEAR_DUPLICATE_SIMILARITY
    ]
    # Non-spam items at or above the threshold: how many have an exact text twin (short titles of
    # the generator's 60-word vocabulary with no description repeat).
    counts = Counter(text_of_id[c] for c in ids)
    exact_twins = sum(1 for c in flagged_other if counts[text_of_id[c]] > 1)
    near = {c for c, r in rows.items() if r["near_duplicate_count"] > 0}
    burst = {c for c, r in rows.items() if r["is_burst"]}
    dated_spam = {c for c in spam if rows[c]["is_burst"] is not None}
    sim = pairs.column("similarity").to_numpy().astype(np.float64)
    src = np.array(pairs.column("content_id").to_pylist())
    sweep = {}
    for threshold in SWEEP:
        flagged = set(src[sim >= threshold].tolist())
        sweep[str(threshold)] = precision_recall(flagged, spam)
    # is_burst at other thresholds (the job's rule on the same pairs, in numpy).
    creator_of = dict(zip(ids, creators, strict=True))
    released = dict(zip(ids, catalogue.column("release_date").to_pylist(), strict=True))
    dst = np.array(pairs.column("neighbour_id").to_pylist())
    same = np.array([creator_of[a] == creator_of[b] for a, b in zip(src, dst, strict=True)])
    close = np.array(
        [
            released[a] is not None
            and released[b] is not None
            and abs((released[a] - released[b]).days) <= BURST_WINDOW_DAYS
            for a, b in zip(src, dst, strict=True)
        ]
    )
    burst_sweep = {}
    for threshold in SWEEP:
        hits = Counter(src[(sim >= threshold) & same & close].tolist())
        burst_sweep[str(threshold)] = precision_recall(
            {c for c, n in hits.items() if n >= BURST_MIN_DUPLICATES}, spam
        )
    examples = sorted(burst - spam)[:10]
    return {
        "spec": {"items": spec.items, "creators": spec.creators, "seed": spec.seed},
        "spam_items": len(spam),
        "spam_creators": len(truth.spam_creators),
        "spam_items_with_release_date": len(dated_spam),
        "is_burst": precision_recall(burst, spam),
        "near_duplicate_count_gt_0": precision_recall(near, spam),
        "near_duplicate_sweep_over_threshold": sweep,
        "is_burst_sweep_over_threshold": burst_sweep,
        "lookalike_pair_similarity": percentiles(lookalike),
        "unrelated_pair_similarity": percentiles(unrelated),
        "unrelated_nearest_neighbour_similarity": percentiles(nearest_other),
        "non_spam_items_with_a_neighbour_at_or_above_threshold": len(flagged_other),
        "of_which_with_an_exact_text_twin": exact_twins,
        "false_burst_examples": [{"content_id": c, "text": text_of_id[c][:80]} for c in examples],
        "missed_burst_examples": [
            {
                "content_id": c,
                "text": text_of_id[c][:80],
                **{k: rows[c][k] for k in ("near_duplicate_count", "same_creator_burst_count")},
            }
            for c in sorted(spam - burst)[:5]
        ],
    }


def full_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def musicoset(args: argparse.Namespace, spark: Any) -> dict[str, Any]:
    with args.musicoset.open(newline="") as handle:
        records = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for record in records:
        if record["song_id"] in seen:
            continue
        seen.add(record["song_id"])
        artists = ast.literal_eval(record["id_artists"])
        names = ast.literal_eval(record["name_artists"])
        rows.append(
            {
                "content_id": record["song_id"],
                "title": record["song_name"],
                "artists": ", ".join(names),
                "creator_id": artists[0] if artists else None,
                "release_date": full_date(record["release_date"]),
            }
        )
    ids = [r["content_id"] for r in rows]
    vectors = encoded([text_of(r["title"], None) for r in rows], args.cache, f"musicoset_{len(rows)}")
    catalogue = pa.Table.from_pylist(rows)
    pairs = pairs_of(ids, vectors, ["track"] * len(ids), [r["creator_id"] for r in rows])
    signals = signals_of(spark, catalogue, pairs)
    by_id = {r["content_id"]: r for r in rows}
    sizes: Counter[int] = Counter()
    groups: dict[str, list[str]] = {}
    group_of = dict(
        zip(pairs.column("content_id").to_pylist(), pairs.column("group_id").to_pylist(), strict=True)
    )
    for cid in ids:
        groups.setdefault(group_of.get(cid, cid), []).append(cid)
    multi = [g for g in groups.values() if len(g) > 1]
    sizes.update(len(g) for g in multi)
    largest = sorted(multi, key=len, reverse=True)[:5]
    strong = pairs.filter(
        pa.compute.greater_equal(
            pairs.column("similarity"), pa.scalar(NEAR_DUPLICATE_SIMILARITY, pa.float32())
        )
    )
    unique = sorted(
        {
            tuple(sorted(p))
            for p in zip(
                strong.column("content_id").to_pylist(),
                strong.column("neighbour_id").to_pylist(),
                strict=True,
            )
        }
    )
    similarity = {
        tuple(sorted((a, b))): s
        for a, b, s in zip(
            strong.column("content_id").to_pylist(),
            strong.column("neighbour_id").to_pylist(),
            strong.column("similarity").to_pylist(),
            strict=True,
        )
    }
    rng = np.random.default_rng(args.seed)
    chosen = [
        unique[i] for i in sorted(rng.choice(len(unique), size=min(args.sample, len(unique)), replace=False))
    ]

    def describe(cid: str) -> str:
        return f"{by_id[cid]['title']} ({by_id[cid]['artists']}, {by_id[cid]['release_date'] or 'undated'})"

    sample = [
        {
            "content_id": a,
            "neighbour_id": b,
            "similarity": round(similarity[(a, b)], 4),
            "a": describe(a),
            "b": describe(b),
        }
        for a, b in chosen
    ]
    labels: dict[tuple[str, str], str] = {}
    if args.labels and args.labels.exists():
        with args.labels.open(newline="") as handle:
            for line in csv.DictReader(handle, delimiter="\t"):
                labels[tuple(sorted((line["content_id"], line["neighbour_id"])))] = line["label"]  # type: ignore[index]
    for item in sample:
        item["label"] = labels.get((item["content_id"], item["neighbour_id"]))
    labelled: Counter[str] = Counter(item["label"] for item in sample if item["label"])
    n_labelled = sum(labelled.values())
    reuploads = [c for c, r in signals.items() if r["possible_reupload_of"]]
    return {
        "items": len(rows),
        "duplicate_rows_in_file": len(records) - len(rows),
        "items_with_full_release_date": sum(1 for r in rows if r["release_date"]),
        "items_with_a_near_duplicate": sum(1 for r in signals.values() if r["near_duplicate_count"] > 0),
        "pairs_at_or_above_threshold": len(unique),
        "groups": len(multi),
        "items_in_groups": sum(len(g) for g in multi),
        "group_size_distribution": dict(sorted(sizes.items())),
        "largest_groups": [[describe(c) for c in g[:8]] for g in largest],
        "is_burst": sum(1 for r in signals.values() if r["is_burst"]),
        "burst_examples": [describe(c) for c, r in sorted(signals.items()) if r["is_burst"]][:8],
        "possible_reuploads": len(reuploads),
        "reupload_examples": [
            f"{describe(c)} <- {describe(signals[c]['possible_reupload_of'])}" for c in sorted(reuploads)[:8]
        ],
        "sample": sample,
        "labels": dict(labelled),
        # Labels: same_work (the same song: a re-release, edit or cover), same_title (different songs
        # with the same title: a duplicate text, not a duplicate item), unrelated.
        "labelled": n_labelled,
        "precision_same_work": round(labelled["same_work"] / n_labelled, 3) if n_labelled else None,
        "precision_same_text": (
            round((labelled["same_work"] + labelled["same_title"]) / n_labelled, 3) if n_labelled else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--creators", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "content_signals_duplicates"
    )
    parser.add_argument("--musicoset", type=Path, default=MUSICOSET)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--labels", type=Path, default=ROOT / "bench" / "near_duplicate_labels.tsv")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    from content_signals.cli.main import prepare_process
    from content_signals.config import PlatformConfig
    from content_signals.spark import spark_session

    prepare_process(PlatformConfig(data_dir=Path(tempfile.gettempdir()) / "content_signals_duplicates_data"))
    spark = spark_session(SparkConfig(master="local[2]", shuffle_partitions=4))
    results: dict[str, Any] = {
        "threshold": NEAR_DUPLICATE_SIMILARITY,
        "burst_similarity": BURST_SIMILARITY,
        "neighbours": DUPLICATE_NEIGHBOURS,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if not args.skip_synthetic:
        results["synthetic"] = synthetic(args, spark)
    results["musicoset"] = musicoset(args, spark)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    summary = {k: v for k, v in results.items() if k != "musicoset"}
    print(json.dumps(summary, indent=2, default=str))
    print(json.dumps({k: v for k, v in results["musicoset"].items() if k != "sample"}, indent=2, default=str))
    for item in results["musicoset"]["sample"]:
        pair = f"{item['content_id']}\t{item['neighbour_id']}\t{item['similarity']}"
        print(f"{pair}\t{item['a']}  ||  {item['b']}\t{item['label']}")


if __name__ == "__main__":
    main()
