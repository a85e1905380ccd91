"""Similar content (issue 19): our vector index against Feast's own vector search and exact search.

One run, the same vectors for every contender: ``--vectors`` (default 1,000,000) 384-dim unit float32
vectors: the real musicoset titles (``/work/wt/shared/data/catalog/musicoset_hits.tsv``, ~12k, encoded
as the content_embedding job does: ``text_of(title, None)`` through the shared text encoder on CPU;
cached in ``--workdir`` so reruns skip it; synthetic only when the file is missing) plus clustered
synthetic vectors with near-duplicate groups (``bench/similarity/data.py``). The next day's
catalogue changes 1%: a third new items, a third with a new vector, a third removed.

Contenders:

* ours: ``build_index_version`` (usearch HNSW, the platform's settings): a full build, then the
  incremental update to the next day, against a full rebuild of the updated set; queries through
  ``VectorIndex(view=True)`` (memory-mapped, as serving opens it): SimilarContent's in-process path
  (the item's stored vector, then its 10 nearest other items); and the SimilarContent RPC by id
  through our gRPC server and the typed client, when the client has ``similar_content``
  (skipped with a message otherwise).
* Feast 0.67's vector search: ``FeatureStore.retrieve_online_documents_v2(top_k=10)`` on its SQLite
  online store with ``vector_enabled: true`` (sqlite-vec 0.1.9), written with
  ``write_to_online_store`` in DataFrame chunks (what it needed: ``bench/similarity/feast_side.py``).
* exact search: numpy/BLAS brute force on the same vectors in one process (the recall truth, and
  single-query latency on one thread).

Latency: sequential single queries (k = 10), one in flight, after a warm-up; p50 and p99. Maximum
QPS: 2 client threads for ``--qps-seconds``. Feast is slow at this size, so it runs a capped number of
queries (``--feast-queries``, ``--feast-time-cap``) and may be given fewer vectors
(``--feast-vectors``; the results say so). Memory: child processes report their RSS growth
(anonymous = private, file-backed = page cache, shareable) after 1,000 queries, for the raw
vectors, the index loaded normally and memory-mapped. Results: ``bench/results/similarity.json``.

Usage: python -m bench.bench_similarity [--vectors 1000000] [--queries 1000] [--feast-vectors N]
       [--feast-queries 50] [--feast-time-cap 300] [--qps-seconds 10] [--skip feast,grpc]
       [--no-titles] [--workdir runs/bench-similarity] [--keep] [--results-name similarity]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import Row, child_env, higher_is_better, lower_is_better, print_table, write_results
from bench.similarity.common import DIM, REPO_ROOT, K, say
from bench.similarity.data import TITLES, encoded_titles, generate

EXACT = "exact search (numpy/BLAS brute force, same vectors)"
FEAST = "Feast 0.67 retrieve_online_documents_v2 (SQLite + sqlite-vec)"
RECALL_GOAL = 0.95


# Search breadths whose recall the benchmark reports (the configured default is 128).
EXPANSION_LADDER = (32, 64, 128, 256)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000, help="recall and in-process latency queries")
    parser.add_argument("--exact-queries", type=int, default=100, help="single exact-search queries")
    parser.add_argument("--feast-vectors", type=int, help="vectors written to Feast (default: all)")
    parser.add_argument("--feast-queries", type=int, default=50, help="sequential Feast queries at most")
    parser.add_argument(
        "--feast-time-cap", type=float, default=300.0, help="seconds of Feast queries at most"
    )
    parser.add_argument("--qps-seconds", type=float, default=10.0, help="seconds of each max-QPS loop")
    parser.add_argument("--grpc-queries", type=int, default=1_000)
    parser.add_argument("--skip", default="", help="comma-separated: feast, grpc, rebuild")
    parser.add_argument("--titles", type=Path, default=TITLES, help="the musicoset hits file")
    parser.add_argument("--titles-limit", type=int, help="encode only the first N titles")
    parser.add_argument("--no-titles", action="store_true", help="synthetic vectors only")
    parser.add_argument("--workdir", type=Path, default=REPO_ROOT / "runs" / "bench-similarity")
    parser.add_argument("--keep", action="store_true", help="keep this run's indexes and Feast db")
    parser.add_argument("--results-name", default="similarity")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.side:
        _child(args.side, json.loads(args.spec))
        return
    started = time.perf_counter()
    run_dir = args.workdir.resolve() / f"run-{uuid.uuid4().hex[:8]}"
    run_dir.mkdir(parents=True)
    try:
        rows, details = run(args, run_dir)
    finally:
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            say(f"kept {run_dir}")
    details["bench_wall_s"] = round(time.perf_counter() - started, 1)
    details["loadavg_end"] = list(os.getloadavg())
    print_table(
        f"Similar content, {args.vectors:,} vectors: ours vs Feast's vector search and exact search", rows
    )
    print(f"results: {write_results(args.results_name, rows, details)}")
    say(f"total run time {details['bench_wall_s']:.0f}s")


def run(args: argparse.Namespace, run_dir: Path) -> tuple[list[Row], dict[str, Any]]:
    from bench.similarity import feast_side, grpc_side, ours
    from content_signals.similarity.index import exact_neighbours

    skip = set(filter(None, args.skip.split(",")))
    details: dict[str, Any] = {"loadavg_start": list(os.getloadavg()), "vectors": args.vectors, "k": K}

    say(f"1/7 vectors: {args.vectors:,} x {DIM}")
    titles = (
        None
        if args.no_titles
        else encoded_titles(args.titles, args.workdir.resolve() / "cache", args.titles_limit)
    )
    if titles is None:
        details["titles"] = "none: synthetic vectors only" + (
            "" if args.no_titles else f" ({args.titles} missing)"
        )
    before, after, counts = generate(args.vectors, titles)
    details["composition"] = counts
    encoder_digest = titles["encoder"]["weights_sha256"] if titles else "synthetic"
    rows_q = ours.query_rows(len(after.ids), args.queries)
    say(f"  {counts}")

    say("2/7 ours: build, incremental update of 1%, full rebuild")
    built = ours.build_and_update(run_dir, before, after, encoder_digest, "rebuild" not in skip)
    say(
        f"  full build {built['full_build_s']:.1f} s, update {built['update_s']:.1f} s, "
        f"rebuild {built['rebuild_s']:.1f} s, index file {built['index_file_mib']:,.0f} MiB"
    )

    say(f"3/7 recall@10 on {len(rows_q):,} items queried by id, against exact search")
    from content_signals.similarity.index import VectorIndex

    recall: dict[str, float] = {}
    before_rows = ours.query_rows(len(before.ids), args.queries)
    for name, items, path, query_rows in (
        ("full_build", before, built["full_path"], before_rows),
        ("after_update", after, built["update_path"], rows_q),
        ("rebuild", after, built["rebuild_path"], rows_q),
    ):
        if name == "rebuild" and "rebuild" in skip:
            continue
        index = VectorIndex(Path(path), view=True)
        truth = ours.exact_truth(items, query_rows)
        found = ours.ann_neighbours(index, items, query_rows)
        recall[name] = round(ours.recall(found, truth), 4)
        titled = [i for i, r in enumerate(query_rows) if items.ids[r].startswith("mus-")]
        if titled:
            recall[f"{name}_title_queries"] = round(
                ours.recall([found[i] for i in titled], [truth[i] for i in titled]), 4
            )
            recall[f"{name}_title_query_count"] = len(titled)
        del index
    # Recall against search breadth on the updated index (queries only, no rebuild): what the
    # serving setting similarity.expansion_search buys.
    truth = ours.exact_truth(after, rows_q)
    for breadth in EXPANSION_LADDER:
        index = VectorIndex(Path(built["update_path"]), view=True, expansion_search=breadth)
        recall[f"after_update_ef{breadth}"] = round(
            ours.recall(ours.ann_neighbours(index, after, rows_q), truth), 4
        )
        del index
    say(f"  {recall}")
    details["recall_at_10"] = recall

    say("4/7 in-process: SimilarContent's path on the memory-mapped index; exact search")
    index = VectorIndex(Path(built["update_path"]), view=True)
    inproc = ours.in_process(index, after, rows_q, args.qps_seconds)
    del index
    exact = ours.exact_latency(after, rows_q, args.exact_queries, 120.0)
    say(
        f"  in-process ANN p50 {inproc['p50_ms']:.3f} ms p99 {inproc['p99_ms']:.3f} ms, "
        f"{inproc['max_qps']:,.0f} QPS"
    )
    say(f"  exact p50 {exact['p50_ms']:.1f} ms p99 {exact['p99_ms']:.1f} ms")

    feast: dict[str, Any] | None = None
    if "feast" not in skip:
        size = min(args.feast_vectors or len(after.ids), len(after.ids))
        say(
            f"5/7 Feast: {size:,} vectors"
            + ("" if size == len(after.ids) else " (fewer than ours: --feast-vectors)")
        )
        feast_rows = rows_q[rows_q < size] if size < len(after.ids) else rows_q
        queries = after.vectors[feast_rows]
        feast = feast_side.measure_feast(
            run_dir / "feast",
            after.ids[:size],
            after.types[:size],
            after.vectors[:size],
            queries,
            args.feast_queries,
            args.feast_time_cap,
            args.qps_seconds,
        )
        truth_rows, _ = exact_neighbours(after.vectors[:size], queries[: len(feast["found"])], K)
        truth = [[after.ids[r] for r in row] for row in truth_rows]
        feast["recall_at_10"] = round(ours.recall(feast.pop("found"), truth), 4)
        feast["vectors_note"] = (
            "all of ours"
            if size == len(after.ids)
            else f"{size:,} of {len(after.ids):,}: see --feast-vectors"
        )
        say(
            f"  Feast p50 {feast['p50_ms']:,.1f} ms p99 {feast['p99_ms']:,.1f} ms ({feast['n']} queries), "
            f"{feast['max_qps']:.2f} QPS, recall {feast['recall_at_10']}, write {feast['write_s']:.1f} s"
        )
        say(f"  sqlite-vec KNN alone (no per-query copy): p50 {feast['knn_only']['p50_ms']:,.1f} ms")

    grpc_result: dict[str, Any] | None = None
    why = "skipped (--skip grpc)" if "grpc" in skip else grpc_side.available()
    if why is None:
        say("6/7 gRPC SimilarContent by id through our server and the typed client")
        grpc_result = _measure_grpc(run_dir, Path(built["update_path"]).parents[2], after, rows_q, args)
        truth = ours.exact_truth(after, rows_q[: len(grpc_result["found"])])
        grpc_result["recall_at_10"] = round(ours.recall(grpc_result.pop("found"), truth), 4)
    else:
        say(f"6/7 gRPC: {why}")
        details["grpc_skipped"] = why

    say("7/7 memory: raw vectors, index loaded normally, memory-mapped (child processes)")
    vectors_path, queries_path = run_dir / "vectors.npy", run_dir / "queries.npy"
    np.save(vectors_path, after.vectors)
    np.save(queries_path, after.vectors[rows_q])
    memory = {
        mode: _run_child(
            "memory",
            {
                "mode": mode,
                "vectors": str(vectors_path),
                "folder": built["update_path"],
                "queries": str(queries_path),
            },
            run_dir,
        )
        for mode in ("raw", "load", "view")
    }
    for mode, figures in memory.items():
        say(f"  {mode}: {figures}")

    details.update(
        {
            "ours": {k: v for k, v in built.items() if not k.endswith("_path")},
            "in_process_ann": inproc,
            "exact": exact,
            "feast": feast,
            "grpc": grpc_result,
            "memory": memory,
            "method": (
                "queries are indexed items asked for by id (SimilarContent's use): the item's stored "
                "vector, its 10 nearest other items; recall against exact search on the same vectors. "
                "Latency = sequential single queries after a warm-up; max QPS = 2 client threads. "
                "Feast: each retrieve_online_documents_v2 call is preceded (untimed) by emptying the "
                "vec0 table its previous call filled, and concurrent calls take turns "
                "(bench/similarity/feast_side.py explains why)."
            ),
        }
    )
    return table_rows(len(after.ids), recall, built, inproc, exact, feast, grpc_result, memory), details


def table_rows(
    n: int,
    recall: dict[str, float],
    built: dict[str, Any],
    inproc: dict[str, Any],
    exact: dict[str, Any],
    feast: dict[str, Any] | None,
    grpc_result: dict[str, Any] | None,
    memory: dict[str, dict[str, Any]],
) -> list[Row]:
    rows = [
        _recall_row("recall@10, full build", recall["full_build"]),
        _recall_row("recall@10, after the 1% update", recall["after_update"]),
    ]
    if feast is not None:
        feast_name = FEAST + ("" if feast["vectors"] == n else f", {feast['vectors']:,} vectors")
        if grpc_result is not None:
            rows.append(
                lower_is_better(
                    "SimilarContent p99, gRPC, k=10",
                    "ms",
                    grpc_result["p99_ms"],
                    feast["p99_ms"],
                    feast_name,
                    0.2,
                )
            )
            rows.append(
                higher_is_better(
                    "max QPS, gRPC, k=10",
                    "queries/s",
                    grpc_result["max_qps"],
                    feast["max_qps"],
                    feast_name,
                    10,
                )
            )
        rows.append(
            lower_is_better(
                "similar p99, in-process ANN, k=10", "ms", inproc["p99_ms"], feast["p99_ms"], feast_name
            )
        )
        rows.append(
            higher_is_better(
                "max QPS, in-process ANN, k=10", "queries/s", inproc["max_qps"], feast["max_qps"], feast_name
            )
        )
        rows.append(
            lower_is_better(
                "index build (full) vs Feast write", "s", built["full_build_s"], feast["write_s"], feast_name
            )
        )
    if grpc_result is not None:
        rows.append(
            lower_is_better(
                "SimilarContent p99 gRPC vs in-process",
                "ms",
                grpc_result["p99_ms"],
                inproc["p99_ms"],
                "in-process ANN query",
                2,
            )
        )
    rows.append(
        lower_is_better(
            "similar p99, in-process ANN vs exact", "ms", inproc["p99_ms"], exact["p99_ms"], EXACT
        )
    )
    rows.append(
        lower_is_better(
            "incremental update of 1%",
            "s",
            built["update_s"],
            built["rebuild_s"],
            built["rebuild_baseline"],
            0.1,
        )
    )
    raw = memory["raw"]["rss_mib"]
    rows.append(
        lower_is_better(
            "index memory, loaded (RSS)", "MiB", memory["load"]["rss_mib"], raw, "raw float32 vectors"
        )
    )
    rows.append(
        lower_is_better(
            "index memory, memory-mapped (private)",
            "MiB",
            memory["view"]["anonymous_mib"],
            raw,
            "raw float32 vectors",
        )
    )
    return rows


def _recall_row(measure: str, value: float) -> Row:
    """Recall in percent (the table prints one decimal)."""
    return Row(
        measure=measure,
        unit="%",
        ours=round(value * 100, 2),
        baseline=100.0,
        baseline_name=EXACT,
        ratio=1.0 / value if value else float("inf"),
        goal=f">= {RECALL_GOAL * 100:g}%",
        met=value >= RECALL_GOAL,
    )


def _measure_grpc(
    run_dir: Path, data_dir: Path, items: Any, rows_q: np.ndarray, args: argparse.Namespace
) -> dict[str, Any]:
    from bench.serving.common import free_port
    from bench.similarity import grpc_side

    port = free_port()
    config = grpc_side.write_config(run_dir, data_dir, port)
    log = (run_dir / "server.log").open("w")
    spec = json.dumps({"config": str(config), "port": port})
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_similarity", "--side", "server", "--spec", spec],
        cwd=run_dir,
        env=child_env(REPO_ROOT),
        stdout=log,
        stderr=log,
    )
    try:
        ids = [items.ids[r] for r in rows_q]
        return grpc_side.measure_grpc(proc, f"127.0.0.1:{port}", ids, args.grpc_queries, args.qps_seconds)
    except Exception as exc:
        log.flush()
        raise RuntimeError(
            f"gRPC part failed: {exc}\n{(run_dir / 'server.log').read_text()[-3000:]}"
        ) from exc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _run_child(side: str, spec: dict[str, Any], run_dir: Path) -> dict[str, Any]:
    result_path = run_dir / f"{side}-{uuid.uuid4().hex[:6]}.json"
    command = [
        sys.executable,
        "-m",
        "bench.bench_similarity",
        "--side",
        side,
        "--spec",
        json.dumps({**spec, "result": str(result_path)}),
    ]
    done = subprocess.run(
        command, cwd=run_dir, env=child_env(REPO_ROOT), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def _child(side: str, spec: dict[str, Any]) -> None:
    if side == "memory":
        from bench.similarity.memory import memory_side

        Path(spec["result"]).write_text(json.dumps(memory_side(spec)))
    elif side == "server":
        from bench.similarity.grpc_side import server_side

        server_side(spec)
    else:
        raise SystemExit(f"unknown side {side}")


if __name__ == "__main__":
    main()
