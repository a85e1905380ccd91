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

# Sections a safety version's training stores in ``card.evaluation`` (see models/safety.py).
SAFETY_SECTIONS = ("corpora", "cross_corpus", "calibration", "deployment", "behaviour")


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
        # The safety model's figures beyond the primary test split (absent for other models).
        "safety": {key: card.evaluation[key] for key in SAFETY_SECTIONS if key in card.evaluation} or None,
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
{_safety_html(document.get("safety"))}
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


# --- The safety model's sections ------------------------------------------------------------------


def _cell(value: object, percent: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2%}" if percent else f"{value:.3f}"
    return html.escape(str(value))


def _safety_html(safety: dict[str, Any] | None) -> str:
    if not safety:
        return ""
    parts = []
    if safety.get("corpora"):
        parts.append(_corpora_html(safety["corpora"], safety.get("cross_corpus") or {}))
    if safety.get("calibration"):
        parts.append(_calibration_html(safety["calibration"]))
    if safety.get("deployment"):
        parts.append(_deployment_html(safety["deployment"]))
    if safety.get("behaviour"):
        parts.append(_behaviour_html(safety["behaviour"]))
    return "\n".join(parts)


def _corpora_html(corpora: dict[str, Any], cross: dict[str, Any]) -> str:
    keys = ("weighted_f1", "macro_f1", "hate_f1", "hate_binary_f1", "hate_macro_f1", "hate_roc_auc")
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{c['items']:,}</td><td>{c['partial_labels']:,}</td>"
        f"<td>{c['train']:,} / {c['validation']:,} / {c['test_rows']:,}</td>"
        + "".join(f"<td>{_cell(c['test'].get(k))}</td>" for k in keys)
        + "</tr>"
        for name, c in corpora.items()
    )
    header = "".join(f"<th>{k.replace('_', ' ')}</th>" for k in keys)
    table = (
        "<h2>Per corpus (each corpus's own held-out test split)</h2><table><tr><th>corpus</th><th>items</th>"
        f"<th>partial labels</th><th>train / validation / test</th>{header}</tr>{rows}</table>"
    )
    if not cross:
        return table
    cross_keys = ("hate_macro_f1", "hate_macro_f1_prior_adjusted", "hate_roc_auc", "macro_f1")
    cross_rows = "".join(
        f"<tr><td>{html.escape(name)}</td>"
        f"<td>{_cell(corpora.get(name, {}).get('test', {}).get('hate_macro_f1'))}</td>"
        + "".join(f"<td>{_cell(c.get(k))}</td>" for k in cross_keys)
        + f"<td>{_cell(c.get('hate_share'), True)}</td>"
        f"<td>{_cell(c.get('estimated_hate_share'), True)}</td></tr>"
        for name, c in cross.items()
    )
    return (
        table + "<h2>Cross-corpus (trained without the corpus, tested on its test split)</h2>"
        "<table><tr><th>left out</th><th>hate macro F1, trained on it</th><th>hate macro F1, never seen</th>"
        "<th>same, at its estimated prevalence</th><th>hate ROC-AUC, never seen</th>"
        "<th>macro F1, never seen</th>"
        f"<th>hate share</th><th>estimated hate share</th></tr>{cross_rows}</table>"
        + _img(_cross_plot(corpora, cross), "in-corpus against cross-corpus hate macro F1")
    )


def _cross_plot(corpora: dict[str, Any], cross: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(5.5, 3.4), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    names = list(cross)
    positions = np.arange(len(names))
    seen = [corpora.get(n, {}).get("test", {}).get("hate_macro_f1", np.nan) for n in names]
    unseen = [cross[n].get("hate_macro_f1", np.nan) for n in names]
    axes.bar(positions - 0.2, seen, width=0.4, label="trained on it")
    axes.bar(positions + 0.2, unseen, width=0.4, label="never seen")
    axes.set_xticks(positions, names)
    axes.set_ylim(0, 1)
    axes.set_ylabel("hate macro F1 (test split)")
    axes.set_title("Generalisation across corpora")
    axes.legend(loc="lower right")
    return figure


def _calibration_html(calibration: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{name}</td><td>{calibration[name]['rows']:,}</td>"
        f"<td>{calibration[name]['before']['nll']:.4f}</td><td>{calibration[name]['after']['nll']:.4f}</td>"
        f"<td>{_cell(calibration[name]['before']['ece'])}</td><td>{_cell(calibration[name]['after']['ece'])}</td></tr>"
        for name in ("validation", "test")
        if name in calibration
    )
    bias = ", ".join(f"{html.escape(k)} {v:+.2f}" for k, v in calibration.get("class_bias", {}).items())
    return (
        "<h2>Calibration</h2>"
        f"<p>Temperature {calibration.get('temperature', 1.0):.3f} and class bias ({bias}) fitted on the "
        "validation splits by the partial-label likelihood; ECE on rows with a single label.</p>"
        "<table><tr><th>split</th><th>rows</th><th>NLL before</th><th>NLL after</th><th>ECE before</th>"
        f"<th>ECE after</th></tr>{rows}</table>"
        + (
            _img(_reliability_plot(calibration["test"]), "reliability before and after calibration")
            if "test" in calibration
            else ""
        )
    )


def _reliability_plot(report: dict[str, Any]) -> Figure:
    figure = Figure(figsize=(4.5, 3.8), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for name in ("before", "after"):
        curve = report[name]["reliability"]
        axes.plot(
            [p["confidence"] for p in curve],
            [p["accuracy"] for p in curve],
            marker="o",
            label=f"{name} (ECE {report[name]['ece']:.3f})",
        )
    axes.set_xlabel("confidence of the predicted class")
    axes.set_ylabel("accuracy")
    axes.set_title("Reliability on the test splits")
    axes.legend(loc="upper left")
    return figure


def _deployment_html(deployment: dict[str, Any]) -> str:
    prevalence, training = deployment["prevalence"], deployment["training_prevalence"]
    shares = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{training[name]:.4%}</td><td>{prevalence[name]:.4%}</td></tr>"
        for name in prevalence
    )
    expected = "".join(
        f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{v:.3f}</td></tr>"
        for k, v in deployment.get("expected_at_deployment", {}).items()
    )
    needed = "".join(
        f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{v:,}</td></tr>"
        for k, v in deployment.get("labels_needed", {}).items()
    )
    text = (
        "<h2>Deployment calibration</h2>"
        "<p>Category prevalence estimated on the catalogue's texts (Saerens EM on calibrated posteriors); "
        "thresholds chosen on the validation splits re-weighted to it.</p>"
        "<table><tr><th>category</th><th>training (validation) share</th><th>catalogue estimate</th></tr>"
        f"{shares}</table>"
        f"<table><tr><th>expected at the catalogue's prevalence</th><th></th></tr>{expected}</table>"
        "<p>Reviewed catalogue labels that would refine these estimates (95% intervals):</p>"
        f"<table><tr><th>to pin down</th><th>labels</th></tr>{needed}</table>"
    )
    catalogue = deployment.get("catalogue")
    if catalogue:
        rates = catalogue["rates"]
        reasons = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{v:,}</td></tr>" for k, v in catalogue["by_reason"].items()
        )
        top = "".join(
            f"<tr><td>{html.escape(t['text'])}</td><td>{t['p_hate']:.3f}</td></tr>"
            for t in catalogue["top_hate"]
        )
        text += (
            f"<h3>On the catalogue ({catalogue['items']:,} items)</h3>"
            f"<div class='kpi'><b>{rates['block']:.2%}</b><span>BLOCK</span></div>"
            f"<div class='kpi'><b>{rates['review']:.2%}</b><span>REVIEW</span></div>"
            f"<div class='kpi'><b>{rates['allow']:.2%}</b><span>ALLOW</span></div>"
            f"<div class='kpi'><b>{_cell(catalogue.get('explicit_suggested_precision'), True)}</b>"
            f"<span>of {catalogue['explicit_suggested']:,} suggested explicit flagged explicit</span></div>"
            f"<table><tr><th>decision: category</th><th>items</th></tr>{reasons}</table>"
            f"<table><tr><th>highest P(hate) titles</th><th>P(hate)</th></tr>{top}</table>"
            + _img(_rates_plot(rates), "catalogue decision rates")
        )
    return text


def _rates_plot(rates: dict[str, float]) -> Figure:
    figure = Figure(figsize=(4.5, 3.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    names = list(rates)
    axes.bar(names, [rates[n] for n in names], color=["#b00", "#e90", "#2a2"][: len(names)])
    axes.set_yscale("log")
    axes.set_ylabel("share of the catalogue (log)")
    axes.set_title("Decisions on the catalogue")
    return figure


def _behaviour_html(behaviour: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['functionality'])}</td><td>{r['cases']:,}</td><td>{r['pass_rate']:.1%}</td>"
        f"<td>{'; '.join(html.escape(f'{t} -> {a}') for t, a in r['failures'][:3])}</td></tr>"
        for r in behaviour["functionalities"]
    )
    return (
        f"<h2>Behavioural suite ({behaviour['overall']:.1%} passed; "
        f"worst {html.escape(behaviour['worst'])})</h2>"
        "<table><tr><th>functionality</th><th>cases</th><th>passed</th><th>first failures</th></tr>"
        f"{rows}</table>" + _img(_behaviour_plot(behaviour), "behavioural pass rates")
    )


def _behaviour_plot(behaviour: dict[str, Any]) -> Figure:
    results = behaviour["functionalities"]
    figure = Figure(figsize=(6.0, 0.3 * len(results) + 1.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.barh([r["functionality"] for r in results], [r["pass_rate"] for r in results])
    axes.axvline(0.8, linestyle="--", color="grey")
    axes.set_xlim(0, 1)
    axes.set_xlabel("pass rate")
    axes.set_title("Behavioural functionalities")
    return figure
