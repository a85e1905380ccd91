"""The safety model on its real data: held-out quality per corpus, across corpora, on the musicoset
catalogue and on the behavioural suite (issue 18's table).

Ours: ``train_safety`` on the three complete corpora (davidson, mlma, ethos through their mappings),
calibrated for the musicoset catalogue's titles, with leave-one-corpus-out heads for the
cross-corpus figures. Baseline: the single-corpus model it replaces (Davidson only, one "unsafe"
score with review / block thresholds), with the figures measured for it before (BENCHMARKS.md and
issue 18); a figure it was never measured on is reported with baseline 0 and ratio 0.

Not in ``make bench``: encoding the 31k corpus texts and 12k titles takes 10-30 minutes on a busy
2-core CPU before training starts. ``--embedding-cache`` keeps the embeddings between runs, so a
second run only trains (several minutes). The full model's card (JSON, and HTML with its plots) is
kept in ``bench/results/safety_model_card/``.

Usage: python -m bench.bench_safety_model [--embedding-cache /tmp/safety-embeddings] [--limit N]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import RESULTS_DIR, Row, print_table, write_results
from content_signals.config import load_config
from content_signals.layout import DataLayout
from content_signals.models.cards import build_model_card
from content_signals.models.safety import load_safety_corpora, train_safety
from content_signals.models.safety_deployment import read_catalogue_file

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SINGLE = "the single-corpus model (Davidson only, one unsafe score)"
UNKNOWN = "not measured for the single-corpus model"


def _row(measure: str, unit: str, ours: float, baseline: float | None, goal: str, met: bool | None) -> Row:
    known = baseline is not None and baseline > 0
    return Row(
        measure=measure,
        unit=unit,
        ours=round(ours, 4),
        baseline=round(baseline, 4) if known and baseline is not None else 0.0,
        baseline_name=SINGLE if known else UNKNOWN,
        ratio=round(ours / baseline, 3) if known and baseline else 0.0,
        goal=goal if met is not None else "recorded",
        met=bool(met) if met is not None else True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding-cache", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="texts per corpus (quick runs)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--data", type=Path, default=SHARED)
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-safety-") as data_dir:
        config = load_config(overrides={"data_dir": data_dir, "models": {"text_encoder": {"device": "cpu"}}})
        corpora = load_safety_corpora(args.data / "text", limit=args.limit)
        catalogue = read_catalogue_file(args.data / "catalog" / "musicoset_hits.tsv", "musicoset")
        result = train_safety(
            config,
            corpora,
            progress=print,
            epochs=args.epochs,
            catalogue=catalogue,
            embedding_cache=args.embedding_cache,
        )
        # The card outlives the temporary data folder: the figures below, with their plots.
        build_model_card(
            DataLayout(config.data_dir).models_root,
            RESULTS_DIR / "safety_model_card",
            "safety",
            result.card.version,
            progress=print,
        )
    seconds = time.perf_counter() - started
    m = result.card.metrics
    deployment: dict[str, Any] = result.card.evaluation["deployment"]
    shown = deployment["catalogue"]
    behaviour = result.behaviour
    assert behaviour is not None
    rows = [
        _row(
            "davidson held-out weighted F1",
            "F1",
            m["test_davidson_weighted_f1"],
            0.903,
            ">= 0.90",
            m["test_davidson_weighted_f1"] >= 0.90,
        ),
        _row(
            "davidson held-out macro F1",
            "F1",
            m["test_davidson_macro_f1"],
            0.741,
            ">= 0.80",
            m["test_davidson_macro_f1"] >= 0.80,
        ),
        _row(
            "davidson held-out hate F1",
            "F1",
            m["test_davidson_hate_f1"],
            0.395,
            ">= 0.55",
            m["test_davidson_hate_f1"] >= 0.55,
        ),
        _row(
            "ethos never trained on, hate macro F1",
            "F1",
            m["cross_ethos_hate_macro_f1"],
            None,
            "reported",
            None,
        ),
        _row(
            "ethos never trained on, hate macro F1 at its estimated prevalence",
            "F1",
            m["cross_ethos_hate_macro_f1_prior_adjusted"],
            None,
            "reported",
            None,
        ),
        _row(
            "musicoset BLOCK rate",
            "share",
            shown["rates"]["block"],
            0.661,
            "<= 0.005",
            shown["rates"]["block"] <= 0.005,
        ),
        _row(
            "musicoset REVIEW rate",
            "share",
            shown["rates"]["review"],
            0.336,
            "<= 0.05",
            shown["rates"]["review"] <= 0.05,
        ),
        _row(
            "musicoset explicit_suggested flagged explicit by the catalogue",
            "precision",
            shown.get("explicit_suggested_precision", math.nan),
            None,
            ">= 0.80",
            shown.get("explicit_suggested_precision", 0.0) >= 0.80,
        ),
        _row(
            "behavioural suite pass rate, overall",
            "share",
            behaviour.overall,
            None,
            ">= 0.80",
            behaviour.overall >= 0.80,
        ),
        _row(
            f"behavioural suite pass rate, worst ({behaviour.worst.functionality})",
            "share",
            behaviour.worst.pass_rate,
            None,
            ">= 0.80",
            behaviour.worst.pass_rate >= 0.80,
        ),
        _row("mlma held-out macro F1", "F1", m["test_mlma_macro_f1"], None, "reported", None),
        _row("mlma held-out hate F1", "F1", m["test_mlma_hate_f1"], None, "reported", None),
        _row(
            "ethos held-out hate macro F1 (trained on)",
            "F1",
            m["test_ethos_hate_macro_f1"],
            None,
            "reported",
            None,
        ),
        _row(
            "davidson never trained on, hate macro F1",
            "F1",
            m["cross_davidson_hate_macro_f1"],
            None,
            "reported",
            None,
        ),
        _row(
            "mlma never trained on, hate macro F1",
            "F1",
            m["cross_mlma_hate_macro_f1"],
            None,
            "reported",
            None,
        ),
        _row(
            "test ECE before calibration",
            "ECE",
            result.card.evaluation["calibration"]["test"]["before"]["ece"],
            None,
            "reported",
            None,
        ),
        _row(
            "test ECE after calibration",
            "ECE",
            result.card.evaluation["calibration"]["test"]["after"]["ece"],
            None,
            "reported",
            None,
        ),
        _row(
            "musicoset estimated hate prevalence",
            "share",
            deployment["prevalence"]["hate"],
            None,
            "reported",
            None,
        ),
        _row(
            "musicoset estimated offensive prevalence",
            "share",
            deployment["prevalence"]["offensive"],
            None,
            "reported",
            None,
        ),
        _row("training + evaluation time (embeddings cached or not)", "s", seconds, None, "reported", None),
    ]
    print_table("safety model (issue 18)", rows)
    details = {
        "corpora": {c.name: len(c) for c in corpora},
        "catalogue_items": len(catalogue),
        "policy": result.policy.model_dump(mode="json") if result.policy else None,
        "catalogue": {k: v for k, v in shown.items() if k != "top_hate"},
        "top_hate_titles": shown["top_hate"],
        "labels_needed": deployment["labels_needed"],
        "explicit_choice": deployment.get("explicit_choice"),
        "behaviour": {r.functionality: r.pass_rate for r in behaviour.results},
        "cross_corpus": result.cross_corpus,
        "per_corpus": result.corpus_metrics,
        "limit": args.limit,
        "epochs": args.epochs,
    }
    print(f"results: {write_results('safety_model', rows, details)}")


if __name__ == "__main__":
    main()
