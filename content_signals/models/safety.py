"""The ``safety`` model: hate / offensive / neither, from a text's embedding and its n-grams.

Trained on several labelled corpora at once, each read through its label mapping
(:mod:`content_signals.models.corpora`: Davidson's tweets, MLMA's multi-aspect tweets, ETHOS's
YouTube and Reddit comments), plus the review loop's labels. A corpus label is a *set* of
categories (ETHOS's "not hate" is ``{offensive, neither}``), and the loss is the partial-label
likelihood (:func:`content_signals.models.safety_calibration.partial_label_nll`).

Each corpus has its own fixed stratified split (by its single label; by hate / not hate where
labels are partial): the same corpus and seed always give the same held-out test set. Training uses
the union of the training splits, model selection the union of the validation splits, and every
corpus's test split is scored once, at the end, with its own figures (three classes where the
corpus has them, hate against the rest always). Cross-corpus figures come from heads trained
without one corpus and tested on its test split (the same cached embeddings, new n-grams).

The head is wide and deep (:class:`content_signals.models.networks.TextClassifierHead`): an MLP
over the frozen sentence embedding, and a linear model over word and character n-gram TF-IDF
features fitted on the training split (:mod:`content_signals.models.text_features`). Each part
trains with early stopping on the validation splits' mean macro F1; their log-probabilities are
averaged, and a temperature and per-class bias fitted on validation by the same likelihood make the
probabilities calibrated, which the catalogue's prevalence estimate needs
(:mod:`content_signals.models.safety_deployment`). The per-category policy chosen for the
deployment's catalogue is stored with the version as ``policy.yaml``; the behavioural suite's pass
rates (:mod:`content_signals.models.behaviour`) join the version's metrics.

The text is normalised (:func:`normalise_text`) before encoding, here and at serving time, so a
URL or an @mention contributes its role, not its characters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from torch import nn

from content_signals.config import PlatformConfig
from content_signals.definitions import Decision
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout
from content_signals.models import corpora as corpora_module
from content_signals.models.behaviour import BehaviourReport, run_suite
from content_signals.models.corpora import LabelledCorpus, load_corpus, load_mapping
from content_signals.models.decisions import choose_thresholds, decide, policy_outcomes
from content_signals.models.embedding_cache import embed_texts
from content_signals.models.evaluation import flat_metrics
from content_signals.models.networks import (
    TEST_PREDICTIONS_FILE,
    TEXT_CLASSIFIER,
    ModelCard,
    TextClassifierHead,
    save_model,
)
from content_signals.models.policy import POLICY_FILE, SafetyPolicy, policy_document
from content_signals.models.prevalence import deployment_weights, estimate_prevalence
from content_signals.models.registry import next_version
from content_signals.models.safety_calibration import (
    Calibration,
    calibration_report,
    fit_calibration,
    partial_label_nll,
    softmax,
)
from content_signals.models.safety_deployment import (
    CatalogueTexts,
    ValidationScores,
    choose_policy,
    match_reviewed,
    read_deployment_catalogue,
)
from content_signals.models.text_encoder import TextEncoder, shared_encoder
from content_signals.models.text_features import NgramFeatures, batch_of
from content_signals.text import normalise_text

MODEL_NAME = "safety"
CLASSES = ("hate", "offensive", "neither")
NEITHER = CLASSES.index("neither")
HATE = CLASSES.index("hate")
# The corpora's categories are the model's classes in the same order ("none" is "neither").
assert len(corpora_module.CATEGORIES) == len(CLASSES) and corpora_module.CATEGORIES[:2] == CLASSES[:2]
TEXT_COLUMN, LABEL_COLUMN = "tweet", "class"
DEFAULT_CORPORA = ("davidson", "mlma", "ethos")
HIDDEN_UNITS = [256]
BATCH_SIZE = 128
# L2 penalty on the wide part's weights (sum of squares): keeps rare n-grams from memorising labels.
WIDE_L2 = 1e-5
# Training rows of a category weigh (share of the category) ** -CLASS_WEIGHT_POWER (0: unweighted,
# 1: balanced); partial labels weigh 1. Calibration undoes the shift this gives the probabilities.
CLASS_WEIGHT_POWER = 0.5
TEST_SHARE = 0.2
VALIDATION_SHARE = 0.1
# Every corpus's test split scored by every version, all corpora together (the card's per-corpus
# figures are rebuilt from it); TEST_PREDICTIONS_FILE holds the primary corpus's only.
CORPUS_PREDICTIONS_FILE = "corpus_test_predictions.parquet"
TARGET = (
    "safety category: hate (attacks a protected group), offensive (profanity, insults), neither; "
    "from corpora mapped to these categories (partial labels allowed)"
)


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: np.ndarray
    source: str
    # SHA-256 of the corpus file: a model card names exactly what it was trained on.
    sha256: str


def load_labelled_texts(path: Path, limit: int | None = None, seed: int = 0) -> LabelledTexts:
    """The corpus, checked; ``limit`` keeps a stratified sample of that many rows (for quick runs)."""
    if not path.exists():
        raise SignalsError(f"labelled corpus not found: {path}")
    frame = pd.read_csv(path)
    missing = {TEXT_COLUMN, LABEL_COLUMN} - set(frame.columns)
    if missing:
        raise SignalsError(f"{path.name} lacks column(s) {', '.join(sorted(missing))}")
    frame = frame.dropna(subset=[TEXT_COLUMN, LABEL_COLUMN])
    labels = frame[LABEL_COLUMN].to_numpy()
    bad = sorted(set(labels.tolist()) - set(range(len(CLASSES))))
    if bad:
        raise SignalsError(f"{path.name}: labels must be 0..{len(CLASSES) - 1}, found {bad[:5]}")
    if limit is not None and limit < len(frame):
        frame, _ = train_test_split(frame, train_size=limit, stratify=labels, random_state=seed)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return LabelledTexts(
        texts=frame[TEXT_COLUMN].astype(str).tolist(),
        labels=frame[LABEL_COLUMN].to_numpy().astype(np.int64),
        source=path.name,
        sha256=digest,
    )


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    @property
    def test_fingerprint(self) -> str:
        return hashlib.sha256(np.sort(self.test).tobytes()).hexdigest()[:16]


def held_out_split(labels: np.ndarray, seed: int = 0) -> Split:
    """Fixed stratified train / validation / test indices."""
    indices = np.arange(len(labels))
    rest, test = train_test_split(indices, test_size=TEST_SHARE, stratify=labels, random_state=seed)
    train, validation = train_test_split(
        rest, test_size=VALIDATION_SHARE / (1 - TEST_SHARE), stratify=labels[rest], random_state=seed
    )
    return Split(train=np.sort(train), validation=np.sort(validation), test=np.sort(test))


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Weighted and macro F1, per-class precision / recall / F1, one-vs-rest ROC-AUC: the model
    card's own figures (:func:`content_signals.models.evaluation.flat_metrics`)."""
    return flat_metrics(labels, probabilities, list(CLASSES))


def corpus_of_texts(corpus: LabelledTexts) -> LabelledCorpus:
    """A corpus in the Davidson format (one class per text) as a :class:`LabelledCorpus`."""
    name = "davidson" if "davidson" in corpus.source.lower() else Path(corpus.source).stem
    return LabelledCorpus(
        name=name,
        texts=list(corpus.texts),
        allowed=np.eye(len(CLASSES), dtype=bool)[corpus.labels],
        source=corpus.source,
        sha256=corpus.sha256,
        unlabelled_rows=0,
    )


def strata(corpus: LabelledCorpus) -> np.ndarray:
    """What a corpus's split is stratified by: its single label, or hate / not hate where some
    labels are sets."""
    single = corpus.single
    return single if (single >= 0).all() else corpus.is_hate.astype(np.int64)


def sample_corpus(corpus: LabelledCorpus, limit: int | None, seed: int = 0) -> LabelledCorpus:
    """A stratified sample of ``limit`` items (for quick runs); the corpus itself when smaller."""
    if limit is None or limit >= len(corpus):
        return corpus
    rows, _ = train_test_split(
        np.arange(len(corpus)), train_size=limit, stratify=strata(corpus), random_state=seed
    )
    return LabelledCorpus(
        name=corpus.name,
        texts=[corpus.texts[i] for i in rows],
        allowed=corpus.allowed[rows],
        source=corpus.source,
        sha256=corpus.sha256,
        unlabelled_rows=corpus.unlabelled_rows,
    )


def load_safety_corpora(
    directory: Path, names: Sequence[str] = DEFAULT_CORPORA, limit: int | None = None, seed: int = 0
) -> list[LabelledCorpus]:
    """Each named corpus (a built-in mapping or a mapping file) read from ``directory`` (the file
    its mapping names), sampled to ``limit`` items each when set."""
    loaded = []
    for name in names:
        mapping = load_mapping(name)
        loaded.append(sample_corpus(load_corpus(mapping, directory / mapping.file), limit, seed))
    if len({c.name for c in loaded}) != len(loaded):
        raise SignalsError(f"corpora named twice: {[c.name for c in loaded]}")
    return loaded


def corpus_split(corpus: LabelledCorpus, seed: int = 0) -> Split:
    return held_out_split(strata(corpus), seed)


def corpus_metrics(allowed: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """A corpus's held-out figures: with single labels everywhere, the three-class figures
    (:func:`classification_metrics`); always hate against the rest (``hate_binary_f1``,
    ``hate_macro_f1`` over hate and not hate, ``hate_roc_auc``)."""
    allowed = np.asarray(allowed, dtype=bool)
    single = allowed.sum(axis=1) == 1
    metrics: dict[str, float] = {"n": float(len(allowed))}
    if single.all() and len(allowed):
        metrics |= classification_metrics(allowed.argmax(axis=1), probabilities)
    truth = allowed[:, HATE] & single
    predicted = probabilities.argmax(axis=1) == HATE
    metrics["hate_share"] = float(truth.mean()) if len(truth) else 0.0
    metrics["hate_binary_f1"] = float(f1_score(truth, predicted, zero_division=0))
    metrics["hate_macro_f1"] = float(f1_score(truth, predicted, average="macro", zero_division=0))
    if 0 < truth.sum() < len(truth):
        metrics["hate_roc_auc"] = float(roc_auc_score(truth, probabilities[:, HATE]))
    return metrics


def selection_score(allowed: np.ndarray, probabilities: np.ndarray) -> float:
    """What model selection maximises on one corpus's validation rows: three-class macro F1 where
    labels are single, hate-vs-rest macro F1 otherwise."""
    figures = corpus_metrics(allowed, probabilities)
    return figures.get("macro_f1", figures["hate_macro_f1"])


@dataclass(frozen=True)
class SafetyTraining:
    card: ModelCard
    path: Path
    test_metrics: dict[str, float]
    confusion: list[list[int]]
    policy: SafetyPolicy | None = None
    corpus_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    cross_corpus: dict[str, dict[str, float]] = field(default_factory=dict)
    behaviour: BehaviourReport | None = None


def embed_corpus(encoder: TextEncoder, texts: list[str], progress: Callable[[str], None]) -> np.ndarray:
    """Embeddings of the normalised texts, in chunks so long runs report progress."""
    return embed_texts(encoder, texts, progress)


@dataclass(frozen=True)
class Rows:
    """The training data of every corpus side by side: embeddings, normalised texts, allowed
    categories, and which corpus and split each row belongs to (review labels: corpus -1, train)."""

    x: torch.Tensor
    texts: list[str]
    allowed: np.ndarray
    corpus: np.ndarray
    role: np.ndarray  # "train" / "validation" / "test"
    names: list[str]

    def of(self, corpus: int, role: str) -> np.ndarray:
        return np.flatnonzero((self.corpus == corpus) & (self.role == role))

    def rows(self, role: str, without: int | None = None) -> np.ndarray:
        chosen = self.role == role
        if without is not None:
            chosen &= self.corpus != without
        return np.flatnonzero(chosen)


def class_weights(allowed: np.ndarray, power: float) -> np.ndarray:
    """Per row: ``(share of its category) ** -power`` for single labels (shares among the single
    labels), 1 for sets; scaled to mean 1."""
    single = allowed.sum(axis=1) == 1
    labels = allowed.argmax(axis=1)
    counts = np.bincount(labels[single], minlength=allowed.shape[1]).astype(np.float64)
    shares = counts / max(1.0, counts.sum())
    per_class = np.where(shares > 0, np.power(np.clip(shares, 1e-9, None), -power), 1.0)
    weights = np.where(single, per_class[labels], 1.0)
    return weights / weights.mean()  # type: ignore[no-any-return]


@dataclass
class FittedHead:
    head: TextClassifierHead
    ngrams: NgramFeatures
    features: sp.csr_matrix
    calibration: Calibration
    best_epochs: dict[str, int]
    rows: Rows

    def logits(self, rows: np.ndarray, calibrated: bool = True) -> np.ndarray:
        with torch.no_grad():
            batch = batch_of(self.features[rows])
            out = (
                self.head(self.rows.x[rows], batch)
                if calibrated
                else self.head.uncalibrated(self.rows.x[rows], batch)
            )
        return out.numpy()  # type: ignore[no-any-return]

    def probabilities(self, rows: np.ndarray, calibrated: bool = True) -> np.ndarray:
        return softmax(self.logits(rows, calibrated))


def fit_head(
    rows: Rows,
    training: np.ndarray,
    validation: np.ndarray,
    epochs: int,
    seed: int,
    progress: Callable[[str], None],
    weight_power: float = CLASS_WEIGHT_POWER,
) -> FittedHead:
    """Both parts on ``training`` rows (early stopping on ``validation``), then the calibration."""
    ngrams = NgramFeatures.fit([rows.texts[i] for i in training])
    features = ngrams.matrix(rows.texts)
    progress(f"n-gram features: {ngrams.size:,} (word 1-2 and character 2-5 grams, training rows only)")
    torch.manual_seed(seed)
    head = TextClassifierHead(rows.x.shape[1], HIDDEN_UNITS, len(CLASSES), ngrams.size)
    head.ngrams = ngrams
    weights = np.zeros(len(rows.allowed))
    weights[training] = class_weights(rows.allowed[training], weight_power)
    validation_groups = [
        validation[rows.corpus[validation] == c] for c in sorted(set(rows.corpus[validation].tolist()))
    ]
    parts = TrainingParts(rows.allowed, weights, training, validation_groups, epochs, seed, progress)
    x = rows.x
    wide_epoch = parts.fit(
        "wide (n-grams)",
        head,
        lambda r: head.wide_logits(batch_of(features[r])),
        torch.optim.Adam([head.wide.weight, head.wide_bias], lr=1e-2),
        patience=6,
        penalty=lambda: WIDE_L2 * head.wide.weight.pow(2).sum(),
    )
    deep_epoch = parts.fit(
        "deep (embedding)",
        head,
        lambda r: head.deep_logits(x[r]),
        torch.optim.Adam(head.deep.parameters(), lr=1e-3, weight_decay=1e-4),
        patience=10,
    )
    head.eval()
    fitted = FittedHead(head, ngrams, features, Calibration(1.0, np.zeros(len(CLASSES))), {}, rows)
    calibration = fit_calibration(fitted.logits(validation, calibrated=False), rows.allowed[validation])
    head.temperature.copy_(torch.tensor([calibration.temperature], dtype=torch.float32))  # type: ignore[operator]
    head.class_bias.copy_(torch.from_numpy(calibration.bias.astype(np.float32)))  # type: ignore[operator]
    fitted.calibration = calibration
    fitted.best_epochs = {"wide": wide_epoch, "deep": deep_epoch}
    progress(
        f"calibration on validation: temperature {calibration.temperature:.3f}, class bias "
        + ", ".join(f"{c} {b:+.2f}" for c, b in zip(CLASSES, calibration.bias, strict=True))
    )
    return fitted


def _as_corpora(
    corpora: LabelledTexts | LabelledCorpus | Sequence[LabelledCorpus],
) -> list[LabelledCorpus]:
    if isinstance(corpora, LabelledTexts):
        return [corpus_of_texts(corpora)]
    if isinstance(corpora, LabelledCorpus):
        return [corpora]
    return list(corpora)


def _predict_texts(
    encoder: TextEncoder, head: TextClassifierHead, cache: Path | None
) -> Callable[[list[str]], np.ndarray]:
    def predict(texts: list[str]) -> np.ndarray:
        normalised = [normalise_text(t) for t in texts]
        return head.probabilities(normalised, embed_texts(encoder, texts, cache_dir=cache))

    return predict


def train_safety(
    config: PlatformConfig,
    corpora: LabelledTexts | LabelledCorpus | Sequence[LabelledCorpus],
    progress: Callable[[str], None] = lambda _line: None,
    epochs: int = 40,
    seed: int = 0,
    review_labels: LabelledTexts | None = None,
    *,
    catalogue: CatalogueTexts | None = None,
    deployment_catalogue: bool = True,
    cross_corpus: bool | Sequence[str] = True,
    weight_power: float = CLASS_WEIGHT_POWER,
    embedding_cache: Path | None = None,
    behaviour: bool = True,
) -> SafetyTraining:
    """Train a new version on ``corpora`` (one Davidson-format corpus, or mapped corpora, the first
    being the *primary* one whose test split the legacy ``test_*`` figures and stored held-out
    predictions use). ``review_labels`` (from the review loop) join the training rows only, so the
    fixed test splits, and comparisons between versions, are unaffected. ``catalogue`` is what the
    policy is calibrated for (default: the deployment's raw catalogue when it has one and
    ``deployment_catalogue``). ``cross_corpus``: train once more without each corpus (True: every
    corpus when there are several; or the names) to measure it never trained on."""
    corpus_list = _as_corpora(corpora)
    if not corpus_list:
        raise SignalsError("no corpus to train on")
    primary = corpus_list[0]
    if (primary.single >= 0).all() and len(set(primary.single.tolist())) < len(CLASSES):
        raise SignalsError("the corpus must hold every class: " + ", ".join(CLASSES))
    splits = [corpus_split(c, seed) for c in corpus_list]
    for c, split in zip(corpus_list, splits, strict=True):
        progress(
            f"{c.name} ({c.source}): {len(c):,} texts; train {len(split.train):,}, validation "
            f"{len(split.validation):,}, test {len(split.test):,} (stratified, seed {seed})"
        )
    extra = review_labels or LabelledTexts([], np.zeros(0, np.int64), "no review labels", "")
    if extra.texts:
        progress(f"adding {len(extra.texts):,} labels from {extra.source} to the training rows")

    encoder = shared_encoder(config.models.text_encoder)
    blocks, texts, allowed, corpus_index, role = [], [], [], [], []
    for index, (c, split) in enumerate(zip(corpus_list, splits, strict=True)):
        blocks.append(embed_texts(encoder, c.texts, progress, embedding_cache))
        texts += c.texts
        allowed.append(c.allowed)
        corpus_index.append(np.full(len(c), index))
        roles = np.full(len(c), "train", dtype=object)
        roles[split.validation], roles[split.test] = "validation", "test"
        role.append(roles)
    if extra.texts:
        blocks.append(embed_texts(encoder, extra.texts, progress))
        texts += extra.texts
        allowed.append(np.eye(len(CLASSES), dtype=bool)[extra.labels])
        corpus_index.append(np.full(len(extra.texts), -1))
        role.append(np.full(len(extra.texts), "train", dtype=object))
    rows = Rows(
        x=torch.from_numpy(np.concatenate(blocks)),
        texts=[normalise_text(t) for t in texts],
        allowed=np.concatenate(allowed),
        corpus=np.concatenate(corpus_index),
        role=np.concatenate(role),
        names=[c.name for c in corpus_list],
    )
    training, validation = rows.rows("train"), rows.rows("validation")
    fitted = fit_head(rows, training, validation, epochs, seed, progress, weight_power)
    head = fitted.head

    # Per-corpus held-out figures, and calibration before / after on validation and test.
    per_corpus: dict[str, dict[str, float]] = {}
    test_rows = rows.rows("test")
    for index, c in enumerate(corpus_list):
        part = rows.of(index, "test")
        per_corpus[c.name] = corpus_metrics(rows.allowed[part], fitted.probabilities(part))
        shown = per_corpus[c.name]
        progress(
            f"test {c.name}: "
            + (
                f"weighted F1 {shown['weighted_f1']:.4f}, macro F1 {shown['macro_f1']:.4f}, "
                if "macro_f1" in shown
                else ""
            )
            + f"hate F1 {shown['hate_binary_f1']:.3f}, hate macro F1 {shown['hate_macro_f1']:.3f}"
        )
    calibration: dict[str, Any] = {
        "temperature": fitted.calibration.temperature,
        "class_bias": dict(zip(CLASSES, map(float, fitted.calibration.bias), strict=True)),
        "validation": calibration_report(
            rows.allowed[validation],
            fitted.probabilities(validation, calibrated=False),
            fitted.probabilities(validation),
        ),
        "test": calibration_report(
            rows.allowed[test_rows],
            fitted.probabilities(test_rows, calibrated=False),
            fitted.probabilities(test_rows),
        ),
    }
    for name in ("validation", "test"):
        report = calibration[name]
        progress(
            f"calibration on {name}: NLL {report['before']['nll']:.4f} -> {report['after']['nll']:.4f}, "
            f"ECE {report['before']['ece']:.4f} -> {report['after']['ece']:.4f}"
        )

    # Cross-corpus: a head trained without one corpus, tested on its test split.
    cross: dict[str, dict[str, float]] = {}
    wanted = (
        ([c.name for c in corpus_list] if len(corpus_list) > 1 else [])
        if cross_corpus is True
        else list(cross_corpus or [])
    )
    for name in wanted:
        if name not in rows.names:
            raise SignalsError(f"cross-corpus: no corpus named {name!r} among {rows.names}")
        left_out = rows.names.index(name)
        progress(f"cross-corpus: training without {name}")
        other = fit_head(
            rows,
            rows.rows("train", without=left_out),
            rows.rows("validation", without=left_out),
            epochs,
            seed,
            progress,
            weight_power,
        )
        part = rows.of(left_out, "test")
        probabilities = other.probabilities(part)
        figures = corpus_metrics(rows.allowed[part], probabilities)
        # The same posteriors moved to the test split's own prevalence, estimated without labels.
        own_validation = rows.rows("validation", without=left_out)
        priors = other.probabilities(own_validation).mean(axis=0)
        estimate = estimate_prevalence(probabilities, priors)
        adjusted = corpus_metrics(rows.allowed[part], estimate.posteriors)
        figures |= {f"{k}_prior_adjusted": v for k, v in adjusted.items() if k != "n"}
        figures["estimated_hate_share"] = float(estimate.priors[HATE])
        cross[name] = figures
        progress(
            f"cross-corpus {name} (never trained on): hate macro F1 {figures['hate_macro_f1']:.3f} "
            f"({figures['hate_macro_f1_prior_adjusted']:.3f} at its estimated prevalence)"
            + (f", macro F1 {figures['macro_f1']:.3f}" if "macro_f1" in figures else "")
        )

    # The policy for the deployment's catalogue.
    layout = DataLayout(config.data_dir)
    if catalogue is None and deployment_catalogue:
        catalogue = read_deployment_catalogue(layout.content_path)
    single_validation = validation[rows.allowed[validation].sum(axis=1) == 1]
    validation_scores = ValidationScores(
        fitted.probabilities(single_validation), rows.allowed[single_validation].argmax(axis=1)
    )
    training_priors = fitted.probabilities(validation).mean(axis=0)
    catalogue_probabilities = None
    reviewed = None
    if catalogue is not None and len(catalogue):
        progress(f"deployment catalogue {catalogue.name}: {len(catalogue):,} texts")
        catalogue_probabilities = head.probabilities(
            [normalise_text(t) for t in catalogue.texts],
            embed_texts(encoder, catalogue.texts, progress, embedding_cache),
        )
        if extra.texts:
            reviewed = match_reviewed(catalogue, extra.texts, extra.labels)
    targets = config.models.decision_targets
    policy, deployment = choose_policy(
        list(CLASSES),
        validation_scores,
        training_priors,
        catalogue,
        catalogue_probabilities,
        block_precision=targets.block_precision,
        review_recall=targets.review_recall,
        reviewed=reviewed,
    )
    hate_rule, offensive_rule = policy.rule("hate"), policy.rule("offensive")
    assert hate_rule is not None and offensive_rule is not None
    progress(
        "policy: hate block at "
        + (f"{hate_rule.block_at:.3f}" if hate_rule.block_at is not None else "never")
        + f", review at {hate_rule.review_at:.3f}; offensive explicit at {offensive_rule.explicit_at}, "
        f"review at {offensive_rule.review_at} (only if not flagged explicit); prevalence "
        + ", ".join(f"{k} {v:.4f}" for k, v in deployment["prevalence"].items())
    )
    if "catalogue" in deployment:
        shown = deployment["catalogue"]
        progress(
            f"on the catalogue: block {shown['rates']['block']:.2%}, review {shown['rates']['review']:.2%}; "
            f"{shown['explicit_suggested']:,} suggested explicit"
            + (
                f", {shown['explicit_suggested_precision']:.1%} of them flagged explicit"
                if "explicit_suggested_precision" in shown
                else ""
            )
        )

    # The legacy single-score thresholds (today's content_safety job and Score read them): the
    # hate rule's method on the unsafe score, 1 - P(neither), against any unsafe label, with the
    # validation rows re-weighted to the deployment's prevalence.
    unsafe_validation = unsafe_score(validation_scores.probabilities)
    prevalence = np.array([deployment["prevalence"][c] for c in CLASSES])
    thresholds = choose_thresholds(
        unsafe_validation,
        validation_scores.labels != NEITHER,
        targets.block_precision,
        targets.review_recall,
        weights=deployment_weights(validation_scores.labels, prevalence, len(CLASSES)),
    )

    if catalogue_probabilities is not None:
        legacy = decide(unsafe_score(catalogue_probabilities), thresholds).decisions
        deployment["legacy_catalogue_rates"] = {
            label: float((legacy == value).mean())
            for label, value in (
                ("block", Decision.BLOCK),
                ("review", Decision.REVIEW),
                ("allow", Decision.ALLOW),
            )
        }

    behaviour_report = None
    if behaviour:
        behaviour_report = run_suite(
            _predict_texts(encoder, head, embedding_cache), categories=corpora_module.CATEGORIES
        )
        progress(
            f"behavioural suite: {behaviour_report.overall:.1%} passed; worst "
            f"{behaviour_report.worst.functionality} {behaviour_report.worst.pass_rate:.1%}"
        )

    # The primary corpus: legacy test figures and stored held-out predictions.
    primary_rows = rows.of(0, "test")
    primary_labels = np.where(
        rows.allowed[primary_rows].sum(axis=1) == 1, rows.allowed[primary_rows].argmax(axis=1), -1
    )
    test_probabilities = fitted.probabilities(primary_rows)
    test_metrics = classification_metrics(primary_labels, test_probabilities)
    confusion = confusion_matrix(
        primary_labels, test_probabilities.argmax(axis=1), labels=list(range(len(CLASSES)))
    ).tolist()
    metrics = {f"test_{k}": v for k, v in test_metrics.items()}
    metrics |= {
        "validation_macro_f1_mean": float(
            np.mean(
                [
                    selection_score(rows.allowed[g], fitted.probabilities(g))
                    for g in (rows.of(i, "validation") for i in range(len(corpus_list)))
                    if len(g)
                ]
            )
        ),
        "best_epoch_wide": float(fitted.best_epochs["wide"]),
        "best_epoch_deep": float(fitted.best_epochs["deep"]),
        "training_rows": float(len(training)),
        "review_label_rows": float(len(extra.texts)),
        "calibration_temperature": fitted.calibration.temperature,
        "validation_ece_before_calibration": calibration["validation"]["before"]["ece"],
        "validation_ece": calibration["validation"]["after"]["ece"],
        "validation_nll_before_calibration": calibration["validation"]["before"]["nll"],
        "validation_nll": calibration["validation"]["after"]["nll"],
        "test_ece": calibration["test"]["after"]["ece"],
    }
    for name, figures in per_corpus.items():
        metrics |= {f"test_{name}_{k}": v for k, v in figures.items() if k != "n"}
    for name, figures in cross.items():
        metrics |= {f"cross_{name}_{k}": v for k, v in figures.items() if k != "n"}
    if "catalogue" in deployment:
        shown = deployment["catalogue"]
        metrics |= {f"catalogue_{k}_rate": v for k, v in shown["rates"].items()}
        if "explicit_suggested_precision" in shown:
            metrics["catalogue_explicit_suggested_precision"] = shown["explicit_suggested_precision"]
    if behaviour_report is not None:
        metrics |= behaviour_report.metrics()
    outcomes = policy_outcomes(unsafe_score(test_probabilities), primary_labels != NEITHER, thresholds)
    metrics |= {f"test_policy_{k}": v for k, v in outcomes.items()}
    progress(
        f"legacy unsafe-score policy: review at {thresholds.review:.3f}, block at {thresholds.block:.3f}; "
        f"on {primary.name} test {outcomes['automation_rate']:.1%} decided without review"
    )

    model_root = layout.model_dir(MODEL_NAME)
    sources = [f"{c.source}@sha256:{c.sha256[:16]}" for c in corpus_list]
    card = ModelCard(
        name=MODEL_NAME,
        version=next_version(model_root),
        feature_service="",
        features=[],
        feature_means=[],
        feature_stds=[],
        hidden_units=HIDDEN_UNITS,
        target=TARGET,
        training_partition=" + ".join(sources)
        + (f" + {len(extra.texts)} review labels ({extra.source})" if extra.texts else ""),
        trained_at=datetime.now(UTC).isoformat(),
        metrics=metrics,
        kind=TEXT_CLASSIFIER,
        classes=list(CLASSES),
        text_encoder={
            "name": encoder.info.name,
            "dimension": encoder.info.dimension,
            "max_seq_length": encoder.info.max_seq_length,
            "weights_sha256": encoder.info.weights_sha256,
        },
        evaluation={
            "test_split_fingerprint": splits[0].test_fingerprint,
            "test_confusion": confusion,
            "score": "unsafe probability: 1 - P(neither)",
            "decision_targets": targets.model_dump(),
            "legacy_thresholds": (
                "review_threshold / block_threshold: the hate rule's method on the unsafe score "
                "(block precision and review recall targets at the deployment prevalence); the "
                f"per-category policy is {POLICY_FILE}"
            ),
            "corpora": {
                c.name: {
                    "source": c.source,
                    "sha256": c.sha256[:16],
                    "items": len(c),
                    "unlabelled_rows": c.unlabelled_rows,
                    "train": len(split.train),
                    "validation": len(split.validation),
                    "test_rows": len(split.test),
                    "test_split_fingerprint": split.test_fingerprint,
                    "partial_labels": int((c.single < 0).sum()),
                    "test": per_corpus[c.name],
                }
                for c, split in zip(corpus_list, splits, strict=True)
            },
            "cross_corpus": cross,
            "calibration": calibration,
            "class_weight_power": weight_power,
            "deployment": deployment,
            "behaviour": _behaviour_document(behaviour_report),
        },
        review_threshold=thresholds.review,
        block_threshold=thresholds.block,
        ngram_features=fitted.ngrams.size,
    )
    predictions = pd.DataFrame(
        {
            "row": primary_rows,
            "label": primary_labels,
            "text_length": [len(texts[i]) for i in primary_rows],
            **{f"p_{name}": test_probabilities[:, index] for index, name in enumerate(CLASSES)},
        }
    )
    every_test = pd.DataFrame(
        {
            "corpus": [rows.names[i] for i in rows.corpus[test_rows]],
            "row": test_rows - np.array([_offset(corpus_list, i) for i in rows.corpus[test_rows]]),
            **{f"allowed_{name}": rows.allowed[test_rows, i] for i, name in enumerate(CLASSES)},
            **{f"p_{name}": fitted.probabilities(test_rows)[:, i] for i, name in enumerate(CLASSES)},
        }
    )
    path = save_model(
        model_root,
        card,
        head,
        extra_files={
            TEST_PREDICTIONS_FILE: predictions.to_parquet(index=False),
            CORPUS_PREDICTIONS_FILE: every_test.to_parquet(index=False),
            POLICY_FILE: policy_document(policy),
            **fitted.ngrams.files(),
        },
    )
    progress(
        f"{MODEL_NAME} {card.version}: {primary.name} test weighted F1 {test_metrics['weighted_f1']:.4f}, "
        f"macro F1 {test_metrics['macro_f1']:.4f}, hate F1 {test_metrics['hate_f1']:.3f} "
        f"(best epochs: wide {fitted.best_epochs['wide']}, deep {fitted.best_epochs['deep']}); "
        f"saved to {path}"
    )
    return SafetyTraining(
        card=card,
        path=path,
        test_metrics=test_metrics,
        confusion=confusion,
        policy=policy,
        corpus_metrics=per_corpus,
        cross_corpus=cross,
        behaviour=behaviour_report,
    )


def _offset(corpora: list[LabelledCorpus], index: int) -> int:
    return sum(len(c) for c in corpora[:index])


def _behaviour_document(report: BehaviourReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "suite_fingerprint": report.suite_fingerprint,
        "overall": report.overall,
        "worst": report.worst.functionality,
        "functionalities": [
            {
                "functionality": r.functionality,
                "cases": r.cases,
                "passed": r.passed,
                "pass_rate": r.pass_rate,
                "failures": [list(f) for f in r.failures],
            }
            for r in report.results
        ],
    }


def unsafe_score(probabilities: np.ndarray) -> np.ndarray:
    """The risk a decision is taken on: the probability of hate or offensive language."""
    return 1.0 - probabilities[:, NEITHER]


@dataclass(frozen=True)
class TrainingParts:
    """How each part of the head is trained: mini-batches of the training rows, weighted by class,
    on the partial-label likelihood; the epoch with the best validation score kept (the mean over
    corpora of :func:`selection_score`; early stopping after ``patience`` epochs without one)."""

    allowed: np.ndarray
    weights: np.ndarray
    training_rows: np.ndarray
    validation_groups: list[np.ndarray]
    max_epochs: int
    seed: int
    progress: Callable[[str], None]

    def score(self, logits: Callable[[np.ndarray], torch.Tensor]) -> float:
        scores = []
        for group in self.validation_groups:
            with torch.no_grad():
                probabilities = torch.softmax(logits(group).float(), dim=1).numpy()
            scores.append(selection_score(self.allowed[group], probabilities))
        return float(np.mean(scores)) if scores else 0.0

    def fit(
        self,
        name: str,
        module: nn.Module,
        logits: Callable[[np.ndarray], torch.Tensor],
        optimiser: torch.optim.Optimizer,
        patience: int,
        penalty: Callable[[], torch.Tensor] | None = None,
    ) -> int:
        parameters = [p for group in optimiser.param_groups for p in group["params"]]
        allowed = torch.from_numpy(self.allowed)
        weights = torch.from_numpy(self.weights.astype(np.float32))
        generator = np.random.default_rng(self.seed)
        best, best_epoch, best_state = -1.0, 0, [p.detach().clone() for p in parameters]
        for epoch in range(1, self.max_epochs + 1):
            module.train()
            order = generator.permutation(self.training_rows)
            for first in range(0, len(order), BATCH_SIZE):
                rows = order[first : first + BATCH_SIZE]
                optimiser.zero_grad()
                loss = partial_label_nll(logits(rows), allowed[rows], weights[rows])
                if penalty is not None:
                    loss = loss + penalty()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
            module.eval()
            score = self.score(logits)
            if score > best:
                best, best_epoch = score, epoch
                best_state = [p.detach().clone() for p in parameters]
            elif epoch - best_epoch >= patience:
                break
        with torch.no_grad():
            for parameter, value in zip(parameters, best_state, strict=True):
                parameter.copy_(value)
        self.progress(
            f"{name}: best validation macro F1 (mean over corpora) {best:.4f} at epoch {best_epoch}"
        )
        return best_epoch
