"""Where a safety model is deployed: the catalogue's texts, its estimated category prevalence and
the per-category policy calibrated for it.

A music catalogue is not a Twitter corpus: hate is far rarer, profanity lives under the explicit
label. So a version's thresholds are chosen for the catalogue it will score:

1. its calibrated posteriors on the catalogue's texts give the catalogue's category prevalence
   (Saerens EM, :func:`content_signals.models.prevalence.estimate_prevalence`); catalogue items a
   reviewer labelled (the review loop) count with their label instead of their posterior;
2. **hate**: BLOCK at the lowest P(hate) whose block precision, on the validation split re-weighted
   to that prevalence, reaches ``block_precision``; REVIEW low enough to reach ``review_recall`` of
   the hate below it, raised where needed until hate REVIEW fits the reviewers' budget
   (:data:`HATE_REVIEW_BUDGET` of the catalogue; the recall it then reaches is reported);
3. **offensive**: never blocks. ``explicit_at`` (explicit_suggested) is the lowest P(offensive) at
   which the titles it marks are mostly (``explicit_precision``) flagged explicit by the catalogue
   itself, chosen on half of the flagged catalogue and measured on the other half; without flags,
   offensive precision at the deployment prevalence. ``review_at`` sends the confidently offensive
   titles the catalogue does not flag explicit to review (``review_only_if_not_explicit``), within
   :data:`OFFENSIVE_REVIEW_BUDGET`. Where no ``explicit_at`` reaches the precision target on the
   catalogue (titles say little about lyrics), the validation-based choice is used and the report
   says the target was not reached and how close the catalogue came.

The chosen :class:`~content_signals.models.policy.SafetyPolicy` carries a
:class:`~content_signals.models.policy.DeploymentCalibration` (prevalence, training prevalence,
expected precision and recall there) and is stored as ``policy.yaml`` with the version.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from content_signals.catalog_mapping import load_mapping as load_catalogue_mapping
from content_signals.definitions import Decision
from content_signals.errors import SignalsError
from content_signals.models.decisions import NEVER, choose_thresholds, decide_by_category
from content_signals.models.policy import CategoryRule, DeploymentCalibration, SafetyPolicy
from content_signals.models.prevalence import (
    deployment_weights,
    estimate_prevalence,
    expected_precision_recall,
)
from content_signals.text import normalise_text, text_of

HATE, OFFENSIVE = "hate", "offensive"
# A 95% interval: reviewed labels needed for a given half-width of a proportion's interval.
Z_95 = 1.96
# explicit_at is only chosen from thresholds that mark at least this many titles in the half it is
# chosen on (a precision measured on a handful of titles is noise).
MIN_EXPLICIT_SUPPORT = 20
EXPLICIT_GRID = np.r_[np.round(np.arange(0.05, 0.96, 0.01), 2), np.round(np.arange(0.955, 0.9995, 0.005), 3)]
# Reviewer capacity, as shares of the catalogue: a threshold the recall target wants is raised
# until its REVIEW share fits (the expected recall it then reaches is reported, not assumed).
HATE_REVIEW_BUDGET = 0.04
OFFENSIVE_REVIEW_BUDGET = 0.01
# An estimated prevalence this low sits at the EM's floor: "no evidence of any", not a measurement.
PREVALENCE_FLOOR = 1e-5


@dataclass(frozen=True)
class CatalogueTexts:
    """The texts of a deployment's catalogue and its own explicit flag per item (None: unknown)."""

    name: str
    texts: list[str]
    explicit: list[bool | None]
    sha256: str

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def flagged(self) -> np.ndarray:
        return np.array([value is True for value in self.explicit], dtype=bool)

    @property
    def has_flags(self) -> bool:
        return any(value is not None for value in self.explicit)


def _digest(texts: list[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode() + b"\x00")
    return digest.hexdigest()


def _flag(cell: object, trues: tuple[str, ...], falses: tuple[str, ...]) -> bool | None:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None
    if isinstance(cell, bool | np.bool_):
        return bool(cell)
    text = str(cell).strip().lower()
    if text in {t.lower() for t in trues}:
        return True
    if text in {f.lower() for f in falses}:
        return False
    return None


def read_catalogue_file(path: Path, mapping_name: str) -> CatalogueTexts:
    """A raw catalogue file read through a catalogue mapping (``musicoset`` or a YAML path): the
    title (and description) as the platform embeds them (:func:`content_signals.text.text_of`), and
    the explicit flag when the mapping has one."""
    if not path.exists():
        raise SignalsError(f"catalogue not found: {path}")
    mapping = load_catalogue_mapping(mapping_name)
    if mapping.format != "csv":
        raise SignalsError(f"catalogue mapping {mapping.name}: only delimited files are read here")
    frame = pd.read_csv(
        path,
        sep=mapping.delimiter,
        quotechar=mapping.quote or '"',
        quoting=csv.QUOTE_NONE if mapping.quote is None else csv.QUOTE_MINIMAL,
        dtype=str,
        keep_default_na=False,
        encoding=mapping.encoding,
    )
    columns = mapping.columns

    def cells(source: Any) -> list[str | None]:
        if source is None or source.column is None:
            return [None] * len(frame)
        if source.column not in frame.columns:
            raise SignalsError(f"{path.name} lacks column {source.column} for mapping {mapping.name}")
        return [str(v) for v in frame[source.column]]

    titles, descriptions = cells(columns.title), cells(columns.description)
    texts = [text_of(t, d) for t, d in zip(titles, descriptions, strict=True)]
    flag_source = columns.explicit
    explicit = (
        [_flag(c, flag_source.true_spellings(), flag_source.false_spellings()) for c in cells(flag_source)]
        if flag_source is not None
        else [None] * len(frame)
    )
    keep = [i for i, text in enumerate(texts) if text]
    texts = [texts[i] for i in keep]
    return CatalogueTexts(f"{path.name} ({mapping.name})", texts, [explicit[i] for i in keep], _digest(texts))


def read_deployment_catalogue(content_path: Path) -> CatalogueTexts | None:
    """The deployment's own raw catalogue (``DataLayout.content_path``), None when it has none."""
    if not content_path.exists():
        return None
    frame = pd.read_parquet(content_path)
    if "title" not in frame.columns:
        return None
    descriptions = frame["description"] if "description" in frame.columns else [None] * len(frame)
    texts = [
        text_of(t if isinstance(t, str) else None, d if isinstance(d, str) else None)
        for t, d in zip(frame["title"], descriptions, strict=True)
    ]
    flags = frame["explicit"] if "explicit" in frame.columns else [None] * len(frame)
    keep = [i for i, text in enumerate(texts) if text]
    explicit = [None if pd.isna(flags[i]) else bool(flags[i]) for i in keep]
    texts = [texts[i] for i in keep]
    return CatalogueTexts(f"{content_path.parent.name}/{content_path.name}", texts, explicit, _digest(texts))


def labels_for_interval(share: float, half_width: float) -> int:
    """Reviewed labels for a 95% normal-approximation interval of ``±half_width`` around a
    proportion near ``share``."""
    share = min(max(share, 1e-6), 1 - 1e-6)
    return int(np.ceil(Z_95**2 * share * (1 - share) / half_width**2))


def reviewed_prevalence(
    posteriors: np.ndarray, training_priors: np.ndarray, known: np.ndarray
) -> tuple[np.ndarray, int, bool]:
    """Prevalence from the unreviewed items' posteriors (EM) and the reviewed items' labels
    (``known``: class index per item, -1 where not reviewed)."""
    reviewed = known >= 0
    classes = posteriors.shape[1]
    counts = np.bincount(known[reviewed], minlength=classes).astype(np.float64)
    if reviewed.all():
        return counts / counts.sum(), 0, True
    estimate = estimate_prevalence(posteriors[~reviewed], training_priors)
    priors = (estimate.priors * (~reviewed).sum() + counts) / len(known)
    return priors / priors.sum(), estimate.iterations, estimate.converged


@dataclass(frozen=True)
class ValidationScores:
    """The calibrated validation probabilities the thresholds are chosen on (rows with one label)."""

    probabilities: np.ndarray
    labels: np.ndarray


def _explicit_threshold(
    offensive: np.ndarray, flagged: np.ndarray, known: np.ndarray, target: float
) -> tuple[float | None, dict[str, Any]]:
    """The lowest grid threshold whose marked titles are at least ``target`` flagged explicit on
    the even-indexed half of the flagged-or-not items, and its precision on the odd half."""
    indices = np.flatnonzero(known)
    choose, measure = indices[::2], indices[1::2]
    chosen, best, best_precision = None, None, -1.0
    for threshold in EXPLICIT_GRID:
        marked = choose[offensive[choose] >= threshold]
        if len(marked) < MIN_EXPLICIT_SUPPORT:
            break
        precision = float(flagged[marked].mean())
        if precision >= target:
            chosen = float(threshold)
            break
        if precision > best_precision:
            best, best_precision = float(threshold), precision
    report: dict[str, Any] = {"chosen_on": len(choose), "measured_on": len(measure), "target_reached": True}
    if chosen is None:
        # No threshold reaches the target with enough titles: the caller falls back, and the card
        # says how close the catalogue came.
        report |= {"target_reached": False, "best_precision": best_precision, "best_threshold": best}
    if chosen is not None:
        held = measure[offensive[measure] >= chosen]
        report["held_out_marked"] = len(held)
        report["held_out_precision"] = float(flagged[held].mean()) if len(held) else None
    return chosen, report


def choose_policy(
    classes: list[str],
    validation: ValidationScores,
    training_priors: np.ndarray,
    catalogue: CatalogueTexts | None,
    catalogue_probabilities: np.ndarray | None,
    *,
    block_precision: float = 0.95,
    review_recall: float = 0.90,
    explicit_precision: float = 0.80,
    offensive_review_precision: float = 0.95,
    reviewed: np.ndarray | None = None,
) -> tuple[SafetyPolicy, dict[str, Any]]:
    """The policy for ``catalogue`` (or, without one, for the validation split's own prevalence)
    and a report of how it was chosen and what it does on the catalogue."""
    hate, offensive = classes.index(HATE), classes.index(OFFENSIVE)
    n_classes = len(classes)
    report: dict[str, Any] = {}
    if catalogue is not None and catalogue_probabilities is not None and len(catalogue):
        known = reviewed if reviewed is not None else np.full(len(catalogue), -1)
        prevalence, iterations, converged = reviewed_prevalence(
            catalogue_probabilities, training_priors, known
        )
        report["em"] = {"iterations": iterations, "converged": converged}
    else:
        prevalence = np.bincount(validation.labels, minlength=n_classes) / max(1, len(validation.labels))
    weights = deployment_weights(validation.labels, prevalence, n_classes)
    p_hate = validation.probabilities[:, hate]
    is_hate = validation.labels == hate
    hate_thresholds = choose_thresholds(p_hate, is_hate, block_precision, review_recall, weights)
    block_at = None if hate_thresholds.block >= NEVER else hate_thresholds.block
    hate_review = min(hate_thresholds.review, 1.0)
    flagged_items = catalogue.flagged if catalogue is not None else None
    if catalogue_probabilities is not None and len(catalogue_probabilities):
        capped = _budget_threshold(catalogue_probabilities[:, hate], HATE_REVIEW_BUDGET)
        report["hate_review"] = {
            "for_recall_target": hate_review,
            "catalogue_share_at_recall_target": float(
                (catalogue_probabilities[:, hate] >= hate_review).mean()
            ),
            "budget": HATE_REVIEW_BUDGET,
            "capped": capped > hate_review,
        }
        hate_review = max(hate_review, capped)
        if block_at is not None:
            hate_review = min(hate_review, block_at)
    expected: dict[str, float] = {}
    if block_at is not None:
        expected["hate_block_precision"], expected["hate_block_recall"] = expected_precision_recall(
            p_hate, is_hate, block_at, weights
        )
    expected["hate_review_precision"], expected["hate_review_or_block_recall"] = expected_precision_recall(
        p_hate, is_hate, hate_review, weights
    )

    p_offensive = validation.probabilities[:, offensive]
    is_offensive = validation.labels == offensive
    offensive_review = choose_thresholds(
        p_offensive, is_offensive, offensive_review_precision, review_recall, weights
    ).block
    explicit_at: float | None = None
    if catalogue is not None and catalogue_probabilities is not None and catalogue.has_flags:
        known_flags = np.array([value is not None for value in catalogue.explicit], dtype=bool)
        explicit_at, report["explicit_choice"] = _explicit_threshold(
            catalogue_probabilities[:, offensive], catalogue.flagged, known_flags, explicit_precision
        )
    if explicit_at is None:
        fallback = choose_thresholds(p_offensive, is_offensive, explicit_precision, 1.0, weights).block
        explicit_at = 0.5 if fallback >= NEVER else round(float(fallback), 4)
        report["explicit_choice"] = {
            **report.get("explicit_choice", {}),
            "fallback": "offensive precision on validation at the deployment prevalence",
        }
    expected["offensive_explicit_precision"], expected["offensive_explicit_recall"] = (
        expected_precision_recall(p_offensive, is_offensive, explicit_at, weights)
    )
    review_at = None if offensive_review >= NEVER else max(float(offensive_review), explicit_at)
    if review_at is not None and catalogue_probabilities is not None and flagged_items is not None:
        unflagged = np.where(flagged_items, -np.inf, catalogue_probabilities[:, offensive])
        review_at = max(review_at, _budget_threshold(unflagged, OFFENSIVE_REVIEW_BUDGET))
        review_at = None if review_at > 1.0 else review_at
    rules = [
        CategoryRule(category=HATE, block_at=block_at, review_at=hate_review),
        CategoryRule(
            category=OFFENSIVE,
            explicit_at=explicit_at,
            review_at=review_at,
            review_only_if_not_explicit=True,
        ),
    ]
    deployment = None
    if catalogue is not None:
        n_reviewed = int((reviewed >= 0).sum()) if reviewed is not None else 0
        deployment = DeploymentCalibration(
            catalogue=catalogue.name,
            items=len(catalogue),
            prevalence=_shares(classes, prevalence),
            training_prevalence=_shares(classes, training_priors),
            expected=expected,
            reviewed_labels=n_reviewed,
        )
    policy = SafetyPolicy(categories=list(classes), rules=rules, deployment=deployment)
    report |= {
        "prevalence_at_floor": [c for c, v in zip(classes, prevalence, strict=True) if v <= PREVALENCE_FLOOR],
        "prevalence": dict(zip(classes, map(float, prevalence), strict=True)),
        "training_prevalence": dict(zip(classes, map(float, training_priors), strict=True)),
        "expected_at_deployment": expected,
        "targets": {
            "hate_block_precision": block_precision,
            "hate_review_recall": review_recall,
            "explicit_precision": explicit_precision,
            "offensive_review_precision": offensive_review_precision,
        },
    }
    # How many reviewed catalogue labels would pin the estimate down (95% intervals).
    hate_share = float(prevalence[hate])
    report["labels_needed"] = {
        "review_band_hate_precision_pm_0.05": labels_for_interval(
            expected.get("hate_review_precision", 0.5), 0.05
        ),
        "random_items_for_10_hate": int(np.ceil(10 / max(hate_share, 1e-6))),
        "random_items_hate_prevalence_pm_50pct": labels_for_interval(hate_share, max(hate_share * 0.5, 1e-6)),
        # With no hate found among n random reviewed items, 3 / n bounds the prevalence (95%, the
        # rule of three): what an estimate at the EM's floor can be checked with.
        "random_items_to_bound_hate_below_0.1pct": 3_000,
    }
    if catalogue is not None and catalogue_probabilities is not None:
        report["catalogue"] = catalogue_outcomes(classes, policy, catalogue, catalogue_probabilities)
    return policy, report


def _budget_threshold(scores: np.ndarray, budget: float) -> float:
    """The lowest threshold at which at most ``budget`` of the items score at or above it."""
    ranked = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    allowed = int(np.floor(budget * len(ranked) + 1e-9))
    if allowed >= len(ranked):
        return 0.0
    return float(np.nextafter(ranked[allowed], np.inf))


def _shares(classes: list[str], priors: np.ndarray) -> dict[str, float]:
    rounded = np.asarray(priors, dtype=np.float64) / np.sum(priors)
    return {name: float(value) for name, value in zip(classes, rounded, strict=True)}


def catalogue_outcomes(
    classes: list[str], policy: SafetyPolicy, catalogue: CatalogueTexts, probabilities: np.ndarray
) -> dict[str, Any]:
    """What the policy does on the catalogue: decision rates by decision and reason, and how many
    of the titles it suggests explicit the catalogue flags explicit."""
    decided = decide_by_category(probabilities, classes, policy, catalogue.explicit)
    n = max(1, len(catalogue))
    rates = {
        label: float((decided.decisions == value).sum() / n)
        for label, value in (
            ("block", Decision.BLOCK),
            ("review", Decision.REVIEW),
            ("allow", Decision.ALLOW),
        )
    }
    by_reason = {
        f"{Decision(int(d)).label}:{c}": 0
        for d, c in zip(decided.decisions, decided.categories, strict=True)
        if c
    }
    for d, c in zip(decided.decisions, decided.categories, strict=True):
        if c:
            by_reason[f"{Decision(int(d)).label}:{c}"] += 1
    suggested = decided.explicit_suggested
    known = np.array([value is not None for value in catalogue.explicit], dtype=bool)
    flagged = catalogue.flagged
    outcome: dict[str, Any] = {
        "items": len(catalogue),
        "rates": rates,
        "by_reason": by_reason,
        "explicit_suggested": int(suggested.sum()),
        "explicit_flagged": int(flagged.sum()),
        "explicit_known": int(known.sum()),
    }
    if known.any() and (suggested & known).any():
        outcome["explicit_suggested_precision"] = float(flagged[suggested & known].mean())
        outcome["explicit_suggested_recall"] = float(suggested[flagged].mean()) if flagged.any() else None
    order = np.argsort(-probabilities[:, classes.index(HATE)])[:10]
    outcome["top_hate"] = [
        {"text": catalogue.texts[i], "p_hate": float(probabilities[i, classes.index(HATE)])} for i in order
    ]
    return outcome


def match_reviewed(catalogue: CatalogueTexts, texts: list[str], labels: np.ndarray) -> np.ndarray:
    """Per catalogue item, the reviewed class of a review label with the same normalised text
    (-1: not reviewed)."""
    by_text = {normalise_text(t): int(label) for t, label in zip(texts, labels, strict=True)}
    return np.array([by_text.get(normalise_text(t), -1) for t in catalogue.texts], dtype=np.int64)
