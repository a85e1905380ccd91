"""Score for the safety model on request-time text: items/s at saturation through gRPC, Ray Serve
and the model replica, against the same encoder + head forward pass in one process.

Ours: the served stack (``serving.server.start``: Ray Serve, the ingress's gRPC server, the safety
model replica that embeds the text and runs the head) called by the typed client with requests of
``--request-size`` real catalogue titles, at 1..N requests in flight; the best level counts.
Baseline: :func:`content_signals.serving.scoring.forward_pass`, the code the replica runs, in this
process on the same normalised titles, with the replica's thread count (1) and the same batch: the
request's size for one request in flight; at saturation the largest pass the replica can join the
requests in flight into (request size x requests in flight), which favours the baseline.

The model is a small safety version trained here (600 Davidson tweets): the encoder and the head's
shape are those of the full model, which is what the forward pass costs.

Usage: python -m bench.bench_text_scoring [--request-size 32] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import higher_is_better, print_table, write_results
from bench.serving.common import free_port

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BASELINE = "encoder + head forward pass (forward_pass), one process, 1 torch thread, batch"


def forward_items_per_second(
    config: Any, version_path: Path, texts: list[str], batch: int, seconds: float
) -> float:
    """The replica's own forward pass, in this process: items/s over ``seconds``."""
    import torch

    from content_signals.models.networks import load_model
    from content_signals.models.text_encoder import TextEncoder
    from content_signals.serving.scoring import forward_pass

    torch.set_num_threads(1)  # as ModelReplica sets it
    card, network = load_model(version_path)
    encoder = TextEncoder(config.models.text_encoder)
    device = torch.device("cpu")
    forward_pass(card, network, texts[:batch], encoder, device)  # warm-up
    done, start, offset = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        chunk = [texts[(offset + i) % len(texts)] for i in range(batch)]
        forward_pass(card, network, chunk, encoder, device)
        done += batch
        offset += batch
    return done / (time.perf_counter() - start)


def served_items_per_second(
    target: str, texts: list[str], request_size: int, in_flight: int, seconds: float
) -> float:
    """Items/s of Score calls with request-time text, ``in_flight`` client threads in a closed loop."""
    from content_signals_client import SignalsClient

    counts = [0] * in_flight
    errors: list[str] = []
    stop_at = time.perf_counter() + 1.0 + seconds  # one second of warm-up, not counted
    measure_from = stop_at - seconds

    def worker(index: int) -> None:
        with SignalsClient(target, timeout_s=60, max_attempts=1) as client:
            offset = index * request_size
            while time.perf_counter() < stop_at:
                chunk = [texts[(offset + i) % len(texts)] for i in range(request_size)]
                ids = [f"t{offset + i}" for i in range(request_size)]
                try:
                    client.score("safety", ids, request_inputs={"text": chunk})
                except Exception as exc:  # counted: an overloaded server may refuse
                    errors.append(type(exc).__name__)
                    continue
                if measure_from <= time.perf_counter() <= stop_at:  # completed inside the window
                    counts[index] += request_size
                offset += request_size * in_flight

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(in_flight)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:  # a failed call counts no items, so it lowers ours; say so rather than hide it
        print(f"  {len(errors)} failed calls at {in_flight} in flight: {sorted(set(errors))}")
    return sum(counts) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--request-size", type=int, default=32, help="titles per Score request")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args()

    from content_signals.config import load_config
    from content_signals.models.safety import load_labelled_texts, train_safety
    from content_signals.models.safety_deployment import read_catalogue_file
    from content_signals.serving import server
    from content_signals.text import normalise_text

    titles = read_catalogue_file(args.data / "catalog" / "musicoset_hits.tsv", "musicoset").texts
    with tempfile.TemporaryDirectory(prefix="bench-text-scoring-") as data_dir:
        config = load_config(
            overrides={
                "data_dir": data_dir,
                "models": {"text_encoder": {"device": "cpu"}},
                "serving": {"grpc_port": free_port()},
                "ray": {"num_cpus": 2},
            }
        )
        print("training a small safety version (the full model's encoder and head shape)")
        trained = train_safety(
            config, load_labelled_texts(args.data / "text" / "davidson_labeled.csv", limit=600), epochs=5
        )
        print("starting the served stack")
        running = server.start(config, progress=print)
        try:
            levels: dict[int, float] = {}
            for level in args.levels:
                levels[level] = served_items_per_second(
                    running.target, titles, args.request_size, level, args.seconds
                )
                print(f"  Score, {level} in flight: {levels[level]:,.1f} items/s")
        finally:
            server.stop()
        normalised = [normalise_text(t) for t in titles]
        best_level = max(levels, key=lambda k: levels[k])
        # The replica joins the requests in flight into one pass: at saturation the baseline runs
        # the largest pass they can form (request size x requests in flight), at one in flight the
        # request's own size.
        batches = sorted({args.request_size, args.request_size * best_level})
        forward: dict[int, float] = {}
        for batch in batches:
            forward[batch] = forward_items_per_second(config, trained.path, normalised, batch, args.seconds)
            print(f"  forward pass, batch {batch}: {forward[batch]:,.1f} items/s")
    saturated_batch = args.request_size * best_level
    rows = [
        higher_is_better(
            f"Score items/s at saturation ({best_level} x {args.request_size} in flight)",
            "items/s",
            round(levels[best_level], 1),
            round(forward[saturated_batch], 1),
            f"{BASELINE} ({saturated_batch})",
            goal=0.7,
        ),
    ]
    if 1 in levels:
        rows.append(
            higher_is_better(
                f"Score items/s, one request of {args.request_size} in flight",
                "items/s",
                round(levels[1], 1),
                round(forward[args.request_size], 1),
                f"{BASELINE} ({args.request_size})",
                goal=0.7,
            )
        )
    print_table("Score with request-time text (issue 18)", rows)
    details = {
        "request_size": args.request_size,
        "seconds": args.seconds,
        "items_per_second_by_in_flight": levels,
        "best_in_flight": best_level,
        "forward_items_per_second_by_batch": forward,
        "texts": "musicoset_hits.tsv titles",
        "model": "safety, trained on 600 Davidson tweets (same encoder and head shape as the full model)",
    }
    print(f"results: {write_results('text_scoring', rows, details)}")


if __name__ == "__main__":
    main()
