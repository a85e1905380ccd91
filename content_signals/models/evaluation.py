"""Model cards: metrics, calibration, slices and policy, as JSON and HTML, for every model kind.

Everything is computed from the version's stored held-out predictions (written at training time:
the safety model's fixed test split, the engagement model's held-out 20% of items), so a card can be
rebuilt at any time without the training data or the encoder, and two versions evaluated on the
same split are compared like for like. What differs between kinds is only how the held-out rows
are sliced (:data:`CARD_SPECS`); metrics, calibration, the confusion matrix and the comparison
with the promoted version are shared. Plots are PNGs embedded in one self-contained HTML file
(matplotlib's Agg canvas, no pyplot state).
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
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

from content_signals.errors import SignalsError
from content_signals.files import write_atomic
from content_signals.models.decisions import DecisionThresholds, policy_outcomes
from content_signals.models.networks import FEATURE_MLP, TEST_PREDICTIONS_FILE, TEXT_CLASSIFIER, ModelCard
from content_signals.models.registry import (
    comparability_problem,
    promoted_version,
    read_card,
    stored_versions,
)

# A band is (low, high, name): low <= value < high.
Band = tuple[float, float, str]
UNKNOWN = "unknown"
# Text length bands (characters) for slice metrics: short posts behave differently from long ones.
LENGTH_BANDS: tuple[Band, ...] = (
    (0, 50, "< 50 chars"),
    (50, 100, "50-99 chars"),
    (100, 10**9, ">= 100 chars"),
)
# Creator catalogue size bands (items): one-off uploaders, small, established and large catalogues
# get very different exposure, so a model can be good on average and poor for small creators.
CREATOR_SIZE_BANDS: tuple[Band, ...] = ((1, 2, "1"), (2, 10, "2-9"), (10, 50, "10-49"), (50, 10**12, "50+"))
CALIBRATION_BINS = 10
_HEADLINE = ("weighted_f1", "macro_f1", "accuracy", "macro_roc_auc", "expected_calibration_error")


def band_labels(values: pd.Series | np.ndarray, bands: tuple[Band, ...]) -> np.ndarray:
    """Each value's band name; ``UNKNOWN`` for a missing value or one outside every band."""
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    labels = np.full(len(numbers), UNKNOWN, dtype=object)
    for low, high, name in bands:
        labels[(numbers >= low) & (numbers < high)] = name
    return labels


def known_or_unknown(values: pd.Series) -> np.ndarray:
    """String slice values with nulls (and empty strings) named ``UNKNOWN``, so they stay counted."""
    text = values.astype(object).where(values.notna(), UNKNOWN).astype(str)
    return text.where(text.str.strip() != "", UNKNOWN).to_numpy(dtype=object)


@dataclass(frozen=True)
class SliceDimension:
    """One way to cut the held-out rows: a stored prediction column, banded if ``bands`` is set."""

    title: str
    column: str
    bands: tuple[Band, ...] = ()
    # Slices listed in this order first (bands: their order); any others follow alphabetically.
    order: tuple[str, ...] = ()

    def values(self, predictions: pd.DataFrame) -> np.ndarray:
        column = predictions[self.column]
        return band_labels(column, self.bands) if self.bands else known_or_unknown(column)

    def ordered(self, present: set[str]) -> list[str]:
        preferred = [name for _, _, name in self.bands] + list(self.order)
        first = [name for name in preferred if name in present]
        return first + sorted(present - set(first), key=lambda name: (name == UNKNOWN, name))


@dataclass(frozen=True)
class CardSpec:
    """What differs between model kinds on a card: what one held-out row is, and its slices."""

    unit: str
    slices: tuple[SliceDimension, ...]


CARD_SPECS: dict[str, CardSpec] = {
    TEXT_CLASSIFIER: CardSpec("texts", (SliceDimension("text length", "text_length", bands=LENGTH_BANDS),)),
    FEATURE_MLP: CardSpec(
        "items",
        (
            SliceDimension("content type", "content_type"),
            SliceDimension("language", "language"),
            SliceDimension(
                "creator size band",
                "creator_size_band",
                order=(*(name for _, _, name in CREATOR_SIZE_BANDS), UNKNOWN),
            ),
        ),
    ),
}


@dataclass(frozen=True)
class ModelCardReport:
    card: dict[str, Any]
    json_path: Path
    html_path: Path


def class_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, Any]:
    predicted = probabilities.argmax(axis=1)
    per_class: dict[str, dict[str, float]] = {}
    f1s, supports = [], []
    for index, name in enumerate(classes):
        truth, chosen = labels == index, predicted == index
        tp = float((truth & chosen).sum())
        precision = tp / chosen.sum() if chosen.any() else 0.0
        recall = tp / truth.sum() if truth.any() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        both_present = 0 < truth.sum() < len(truth)
        per_class[name] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": float(truth.sum()),
            "roc_auc": float(roc_auc_score(truth, probabilities[:, index])) if both_present else float("nan"),
            "pr_auc": (
                float(average_precision_score(truth, probabilities[:, index]))
                if both_present
                else float("nan")
            ),
        }
        f1s.append(f1)
        supports.append(truth.sum())
    weights = np.asarray(supports, dtype=float)
    aucs = np.asarray([c["roc_auc"] for c in per_class.values()])
    return {
        "weighted_f1": float(np.dot(f1s, weights) / weights.sum()) if weights.sum() else 0.0,
        "macro_f1": float(np.mean(f1s)),
        "accuracy": float((predicted == labels).mean()) if len(labels) else 0.0,
        # NaN (without numpy's empty-slice warning) when no class has both outcomes present.
        "macro_roc_auc": float(aucs[~np.isnan(aucs)].mean()) if (~np.isnan(aucs)).any() else float("nan"),
        "per_class": per_class,
    }


def flat_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict[str, float]:
    """:func:`class_metrics` as the flat floats a :class:`ModelCard` stores (and promotion gates
    read): overall F1s and accuracy, ``<class>_<precision|recall|f1|support>``, and the macro
    ROC-AUC only when every class occurs (otherwise it would average a different set of classes)."""
    computed = class_metrics(labels, probabilities, classes)
    metrics = {key: float(computed[key]) for key in ("weighted_f1", "macro_f1", "accuracy")}
    for name, values in computed["per_class"].items():
        for key in ("precision", "recall", "f1", "support"):
            metrics[f"{name}_{key}"] = float(values[key])
    if len(set(labels.tolist())) == len(classes):
        metrics["macro_roc_auc"] = float(computed["macro_roc_auc"])
    return metrics


def calibration(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Reliability of the top-class confidence: per-bin confidence vs accuracy, and the ECE."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bins = np.clip(np.digitize(confidence, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    curve, ece = [], 0.0
    for b in range(CALIBRATION_BINS):
        members = bins == b
        if not members.any():
            continue
        mean_confidence, accuracy = float(confidence[members].mean()), float(correct[members].mean())
        ece += members.mean() * abs(mean_confidence - accuracy)
        curve.append({"bin": b, "confidence": mean_confidence, "accuracy": accuracy, "n": int(members.sum())})
    return {"expected_calibration_error": float(ece), "reliability": curve}


def slice_metrics(
    dimension: SliceDimension,
    predictions: pd.DataFrame,
    labels: np.ndarray,
    probabilities: np.ndarray,
    classes: list[str],
) -> dict[str, dict[str, Any]]:
    """Per slice value: n, weighted and macro F1, and the macro ROC-AUC where every class occurs
    in the slice (null otherwise: an AUC over some of the classes is not comparable)."""
    values = dimension.values(predictions)
    slices: dict[str, dict[str, Any]] = {}
    for name in dimension.ordered(set(values.tolist())):
        members = values == name
        computed = class_metrics(labels[members], probabilities[members], classes)
        every_class = len(set(labels[members].tolist())) == len(classes)
        slices[name] = {
            "n": int(members.sum()),
            "weighted_f1": computed["weighted_f1"],
            "macro_f1": computed["macro_f1"],
            "roc_auc": computed["macro_roc_auc"] if every_class else None,
        }
    return slices


def evaluate_predictions(card: ModelCard, predictions: pd.DataFrame) -> dict[str, Any]:
    """The card's evaluation section from held-out predictions (``label`` and ``p_<class>`` columns
    plus the kind's slice columns)."""
    spec = card_spec(card)
    classes = card.classes
    needed = ["label", *(f"p_{c}" for c in classes), *(d.column for d in spec.slices)]
    missing = [c for c in needed if c not in predictions.columns]
    if missing:
        raise SignalsError(
            f"{card.name} {card.version}: held-out predictions lack column(s) {', '.join(missing)}"
        )
    labels = predictions["label"].to_numpy()
    probabilities = predictions[[f"p_{c}" for c in classes]].to_numpy()
    report: dict[str, Any] = {"n": len(labels), **class_metrics(labels, probabilities, classes)}
    report |= calibration(labels, probabilities)
    report["confusion_matrix"] = confusion_matrix(
        labels, probabilities.argmax(axis=1), labels=list(range(len(classes)))
    ).tolist()
    report["slices"] = {
        dimension.title: slice_metrics(dimension, predictions, labels, probabilities, classes)
        for dimension in spec.slices
    }
    if card.review_threshold is not None and card.block_threshold is not None and "neither" in classes:
        unsafe = 1.0 - probabilities[:, classes.index("neither")]
        positives = labels != classes.index("neither")
        thresholds = DecisionThresholds(card.review_threshold, card.block_threshold)
        report["policy"] = {
            "review_threshold": card.review_threshold,
            "block_threshold": card.block_threshold,
            **policy_outcomes(unsafe, positives, thresholds),
            "tradeoff": _automation_tradeoff(unsafe, positives, card.block_threshold),
        }
    return report


def card_spec(card: ModelCard) -> CardSpec:
    """The kind's card layout; a card without classes predates model cards for its kind."""
    spec = CARD_SPECS.get(card.kind)
    if spec is None:
        raise SignalsError(f"{card.name} {card.version} is a {card.kind}: no model card layout for it")
    if not card.classes:
        raise SignalsError(
            f"{card.name} {card.version} names no classes (trained before model cards covered "
            f"{card.kind} models): train a new version"
        )
    return spec


def _automation_tradeoff(unsafe: np.ndarray, positives: np.ndarray, block: float) -> list[dict[str, float]]:
    """Automation against missed unsafe items as the review threshold moves (block fixed)."""
    points = []
    for review in np.linspace(0.0, min(block, 1.0), 21):
        outcome = policy_outcomes(unsafe, positives, DecisionThresholds(float(review), block))
        points.append(
            {
                "review_threshold": float(review),
                "automation_rate": outcome["automation_rate"],
                "missed_positive_rate": outcome["missed_positive_rate"],
            }
        )
    return points


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
    comparison["metrics"] = {
        key: {
            "this": report[key],
            "promoted": promoted_report[key],
            "delta": report[key] - promoted_report[key],
        }
        for key in _HEADLINE
    }
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
        f"<div class='kpi'><b>{report[k]:.3f}</b><span>{k.replace('_', ' ')}</span></div>" for k in _HEADLINE
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
