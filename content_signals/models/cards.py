"""Model cards: an evaluation (:mod:`content_signals.models.evaluation`) written as JSON and as one
self-contained HTML page with plots, beside the comparison with the promoted version.

A card is rebuilt from the version's stored held-out predictions, so ``signals evaluate`` can write
it at any time. Plots are PNGs embedded in the HTML (matplotlib's Agg canvas, no pyplot state), so
the page can be opened or attached anywhere without its files.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from content_signals.errors import SignalsError
from content_signals.files import write_atomic
from content_signals.models.evaluation import (
    CARD_SPECS,
    HEADLINE_METRICS,
    card_spec,
    compare_headline,
    evaluate_predictions,
)
from content_signals.models.networks import TEST_PREDICTIONS_FILE, TEXT_CLASSIFIER, ModelCard
from content_signals.models.registry import (
    comparability_problem,
    promoted_version,
    read_card,
    stored_versions,
)


@dataclass(frozen=True)
class ModelCardReport:
    """A written card: its document (what the JSON holds) and the two files."""

    card: dict[str, Any]
    json_path: Path
    html_path: Path


def build_model_card(
    models_root: Path,
    cards_root: Path,
    name: str,
    version: str | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> ModelCardReport:
    """Evaluate ``version`` (default: the newest) and write its card as JSON and HTML."""
    model_root = models_root / name
    if not model_root.exists():
        raise SignalsError(f"no model named {name!r} under {models_root}")
    versions = stored_versions(model_root)
    version = version or (versions[-1] if versions else None)
    if version is None:
        raise SignalsError(f"model {name!r} has no versions")
    card = read_card(model_root, version)
    spec = card_spec(card)
    predictions_path = model_root / version / TEST_PREDICTIONS_FILE
    if not predictions_path.exists():
        raise SignalsError(f"{name} {version} has no held-out predictions ({TEST_PREDICTIONS_FILE})")
    report = evaluate_predictions(card, pd.read_parquet(predictions_path))
    progress(
        f"{name} {version}: weighted F1 {report['weighted_f1']:.4f}, macro F1 {report['macro_f1']:.4f}, "
        f"ECE {report['expected_calibration_error']:.4f} on {report['n']:,} held-out {spec.unit}"
    )

    promoted = promoted_version(model_root)
    comparison = (
        _comparison(model_root, card, report, promoted)
        if promoted is not None and promoted != version
        else None
    )
    document = {
        "model": name,
        "version": version,
        "kind": card.kind,
        "promoted_version": promoted,
        "trained_at": card.trained_at,
        "training_data": card.training_partition,
        "target": card.target,
        "classes": card.classes,
        "feature_service": card.feature_service or None,
        "features": card.features,
        "text_encoder": card.text_encoder,
        "test_split_fingerprint": card.evaluation.get("test_split_fingerprint"),
        "held_out_split": card.evaluation.get("held_out_split"),
        "evaluation": report,
        "comparison": comparison,
    }
    out_dir = cards_root / name
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / f"{version}.json", out_dir / f"{version}.html"
    write_atomic(json_path, json.dumps(document, indent=2, default=_json_default).encode())
    write_atomic(html_path, render_html(document).encode())
    progress(f"model card: {html_path}")
    return ModelCardReport(card=document, json_path=json_path, html_path=html_path)


def _comparison(model_root: Path, card: ModelCard, report: dict[str, Any], promoted: str) -> dict[str, Any]:
    """Headline metrics against the promoted version's, recomputed from its own held-out
    predictions; a promoted version stored before it had any (an older engagement model) is named,
    not compared, rather than failing the whole card."""
    promoted_card = read_card(model_root, promoted)
    promoted_path = model_root / promoted / TEST_PREDICTIONS_FILE
    comparison: dict[str, Any] = {
        "promoted_version": promoted,
        "promoted_training_data": promoted_card.training_partition,
        "comparable": comparability_problem(card, promoted_card) is None,
        "metrics": {},
        "note": None,
    }
    if not promoted_card.classes or not promoted_path.exists():
        comparison["note"] = (
            f"{promoted} has no held-out predictions ({TEST_PREDICTIONS_FILE}) to compare with"
        )
        return comparison
    promoted_report = evaluate_predictions(promoted_card, pd.read_parquet(promoted_path))
    comparison["metrics"] = compare_headline(report, promoted_report)
    return comparison


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__}")


# --- HTML -----------------------------------------------------------------------------------------


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
td, th { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.kpi { display: inline-block; margin: 0 1.5rem 1rem 0; }
.kpi b { display: block; font-size: 1.6rem; }
.warn { color: #b00; }
img { max-width: 100%; }
"""


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _inputs_html(document: dict[str, Any]) -> str:
    """What the model reads and what it was evaluated on, per kind."""
    n, unit = document["evaluation"]["n"], CARD_SPECS[document.get("kind", TEXT_CLASSIFIER)].unit
    encoder = document["text_encoder"]
    inputs = (
        f"Encoder: {html.escape(str(encoder.get('name')))}\n({encoder.get('dimension')} dims)."
        if encoder
        else f"Inputs: {len(document['features'])} features of "
        f"{html.escape(str(document['feature_service']))}."
    )
    held_out = (
        f"Held-out test split {html.escape(str(document['test_split_fingerprint']))}"
        if document["test_split_fingerprint"] or not document.get("held_out_split")
        else f"Held-out split: {html.escape(str(document['held_out_split']))}"
    )
    return f"{inputs}\n{held_out},\n{n:,} {unit}."


def _slices_html(slices: dict[str, dict[str, dict[str, Any]]]) -> str:
    tables = []
    for title, values in slices.items():
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{s['n']:,}</td><td>{s['weighted_f1']:.3f}</td>"
            f"<td>{s['macro_f1']:.3f}</td><td>{_number(s['roc_auc'])}</td></tr>"
            for name, s in values.items()
        )
        tables.append(
            f"<table><tr><th>{html.escape(title)}</th><th>n</th><th>weighted F1</th><th>macro F1</th>"
            f"<th>ROC-AUC</th></tr>{rows}</table>"
        )
    return "\n".join(tables)


def _comparison_html(comparison: dict[str, Any] | None) -> str:
    if not comparison:
        return "<h2>Against the promoted version</h2><p>None to compare with.</p>"
    rows = "".join(
        f"<tr><td>{k}</td><td>{v['this']:.4f}</td><td>{v['promoted']:.4f}</td><td>{v['delta']:+.4f}</td></tr>"
        for k, v in comparison["metrics"].items()
    )
    notes = "" if comparison["comparable"] else "<p class='warn'>Different test splits: not comparable.</p>"
    if comparison.get("note"):
        notes += f"<p class='warn'>{html.escape(comparison['note'])}</p>"
    table = (
        f"<table><tr><th>metric</th><th>this</th><th>promoted</th><th>delta</th></tr>{rows}</table>"
        if rows
        else ""
    )
    return (
        f"<h2>Against the promoted version ({html.escape(comparison['promoted_version'])})</h2>{notes}{table}"
    )


def _policy_html(policy: dict[str, Any] | None) -> str:
    if not policy:
        return "<p>No decision policy stored with this version.</p>"
    return (
        "<h2>Decision policy</h2><table><tr><th>review at</th><th>block at</th><th>automation</th>"
        "<th>review</th><th>block precision</th><th>unsafe allowed unreviewed</th><th>safe blocked</th></tr>"
        f"<tr><td>{policy['review_threshold']:.3f}</td><td>{policy['block_threshold']:.3f}</td>"
        f"<td>{policy['automation_rate']:.1%}</td><td>{policy['review_rate']:.1%}</td>"
        f"<td>{policy['block_precision']:.3f}</td><td>{policy['missed_positive_rate']:.1%}</td>"
        f"<td>{policy['wrongly_blocked_rate']:.1%}</td></tr></table>"
        + _img(_tradeoff_plot(policy), "automation against missed unsafe items")
    )


def render_html(document: dict[str, Any]) -> str:
    report = document["evaluation"]
    classes: list[str] = document["classes"]
    title = f"{document['model']} {document['version']}"
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        + "".join(f"<td>{values[k]:.3f}</td>" for k in ("precision", "recall", "f1", "roc_auc", "pr_auc"))
        + f"<td>{int(values['support']):,}</td></tr>"
        for name, values in report["per_class"].items()
    )
    headline = "".join(
        f"<div class='kpi'><b>{report[k]:.3f}</b><span>{k.replace('_', ' ')}</span></div>"
        for k in HEADLINE_METRICS
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {html.escape(title)}</title>
<style>{_STYLE}</style></head><body>
<h1>Model card: {html.escape(title)}</h1>
<p>Trained {html.escape(document["trained_at"])} on {html.escape(document["training_data"])};
target: {html.escape(document["target"])}. {_inputs_html(document)}
Promoted version: {html.escape(str(document["promoted_version"]))}.</p>
{headline}
<h2>Per class</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>ROC-AUC</th><th>PR-AUC</th><th>support</th></tr>{rows}</table>
{_img(_confusion_plot(report["confusion_matrix"], classes), "confusion matrix")}
{_img(_calibration_plot(report), "reliability curve")}
<h2>Slices</h2>
{_slices_html(report["slices"])}
{_policy_html(report.get("policy"))}
{_comparison_html(document.get("comparison"))}
</body></html>
"""


def _img(figure: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, metadata={"Software": None})
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _confusion_plot(matrix: list[list[int]], classes: list[str]) -> Figure:
    figure = Figure(figsize=(4.5, 3.8), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    values = np.asarray(matrix)
    axes.imshow(values, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes)
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (i, j), count in np.ndenumerate(values):
        axes.text(j, i, f"{count:,}", ha="center", va="center", color="black")
    axes.set_title("Confusion matrix (test split)")
    return figure


def _calibration_plot(report: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(4.5, 3.8), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    curve = report["reliability"]
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    axes.plot([p["confidence"] for p in curve], [p["accuracy"] for p in curve], marker="o", label="model")
    axes.set_xlabel("confidence of the predicted class")
    axes.set_ylabel("accuracy")
    axes.set_title(f"Reliability (ECE {report['expected_calibration_error']:.3f})")
    axes.legend(loc="upper left")
    return figure


def _tradeoff_plot(policy: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(5.5, 3.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    points = policy["tradeoff"]
    axes.plot([p["missed_positive_rate"] for p in points], [p["automation_rate"] for p in points], marker=".")
    axes.scatter(
        [policy["missed_positive_rate"]],
        [policy["automation_rate"]],
        color="red",
        zorder=3,
        label=f"chosen: review at {policy['review_threshold']:.3f}",
    )
    axes.set_xlabel("unsafe items allowed without review (share of unsafe)")
    axes.set_ylabel("decided without review")
    axes.set_title("Automation against errors")
    axes.legend(loc="lower right")
    return figure
