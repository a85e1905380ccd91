"""CLI commands of the model lifecycle: ``train engagement|safety``, ``review export|import``,
``evaluate`` (model cards) and ``promote``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from content_signals.cli.common import DateOption, config_of, parse_date, parse_timestamp, say
from content_signals.config import PlatformConfig
from content_signals.errors import SignalsError
from content_signals.layout import DataLayout

# The real labelled corpora (../shared/data, read in place, never copied into the repo).
DEFAULT_CORPORA_DIR = Path("../shared/data/text")
DEFAULT_SAFETY_CORPUS = DEFAULT_CORPORA_DIR / "davidson_labeled.csv"
DEFAULT_CORPORA = ("davidson", "mlma", "ethos")

train_app = typer.Typer(help="Train models on point-in-time features.", no_args_is_help=True)
review_app = typer.Typer(
    help="The review loop: export items to review, import their labels.", no_args_is_help=True
)


@train_app.command("engagement")
def train_engagement(ctx: typer.Context, day: DateOption = None) -> None:
    """Train the engagement model on features as of the end of --date; labels from the next 7 days."""
    train_engagement_model(config_of(ctx), parse_date(day))


def train_engagement_model(config: PlatformConfig, day: date) -> None:
    """Check the inputs exist before Spark starts, then assemble the training set and train."""
    from content_signals.jobs.engagement_training import check_trainable
    from content_signals.jobs.engagement_training import train_engagement as train
    from content_signals.spark import spark_session

    check_trainable(DataLayout(config.data_dir), day)
    train(config, spark_session(config.spark), day, progress=say)


@train_app.command("safety")
def train_safety(
    ctx: typer.Context,
    corpus: Annotated[
        list[str] | None,
        typer.Option(
            help="A corpus: a built-in mapping (davidson, mlma, ethos), a mapping YAML, or a CSV in the "
            "Davidson format (tweet, class 0/1/2). Repeat for several; the first is the primary one "
            "(default: davidson, mlma, ethos)."
        ),
    ] = None,
    corpora_dir: Annotated[
        Path, typer.Option(help="Folder holding the files the corpus mappings name.")
    ] = DEFAULT_CORPORA_DIR,
    limit: Annotated[
        int | None, typer.Option(min=30, help="Train on a stratified sample of this many texts per corpus.")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the training split.")] = 40,
    review_labels: Annotated[
        bool, typer.Option(help="Add the labels imported with `signals review import` to training.")
    ] = True,
    labels_until: Annotated[
        str | None, typer.Option(help="Only review labels reviewed at or before this ISO-8601 time.")
    ] = None,
    catalogue: Annotated[
        Path | None,
        typer.Option(
            help="The catalogue file the policy is calibrated for (needs --catalogue-mapping); default: "
            "the deployment's imported catalogue when it has one."
        ),
    ] = None,
    catalogue_mapping: Annotated[
        str | None, typer.Option(help="The catalogue file's mapping (e.g. musicoset, or a YAML path).")
    ] = None,
    cross_corpus: Annotated[
        bool, typer.Option(help="Also train without each corpus and test on it (cross-corpus figures).")
    ] = True,
    embedding_cache: Annotated[
        Path | None, typer.Option(help="Reuse sentence embeddings from (and store them in) this folder.")
    ] = None,
) -> None:
    """Train the safety model (hate / offensive / neither) on labelled corpora; calibrate its
    per-category policy for the deployment's catalogue (policy.yaml beside the version)."""
    until = parse_timestamp(labels_until, "--labels-until") if labels_until else None
    if (catalogue is None) != (catalogue_mapping is None):
        raise SignalsError("--catalogue and --catalogue-mapping go together")
    train_safety_model(
        config_of(ctx),
        corpus or list(DEFAULT_CORPORA),
        limit,
        epochs,
        review_labels,
        until,
        corpora_dir=corpora_dir,
        catalogue=(catalogue, catalogue_mapping) if catalogue and catalogue_mapping else None,
        cross_corpus=cross_corpus,
        embedding_cache=embedding_cache,
    )


def train_safety_model(
    config: PlatformConfig,
    corpus: Path | Sequence[str],
    limit: int | None,
    epochs: int,
    review_labels: bool,
    labels_until: datetime | None = None,
    *,
    corpora_dir: Path = DEFAULT_CORPORA_DIR,
    catalogue: tuple[Path, str] | None = None,
    cross_corpus: bool = True,
    embedding_cache: Path | None = None,
) -> None:
    """Train on the corpora (a stratified sample of ``limit`` texts each if set), plus the review
    loop's labels (those reviewed by ``labels_until``) when ``review_labels``. ``corpus``: one
    Davidson-format file, or corpus names / mapping files (a ``.csv`` that exists is read as a
    Davidson-format file)."""
    from content_signals.models.corpora import LabelledCorpus
    from content_signals.models.review import load_review_labels
    from content_signals.models.safety import (
        corpus_of_texts,
        load_labelled_texts,
        load_safety_corpora,
    )
    from content_signals.models.safety import train_safety as train
    from content_signals.models.safety_deployment import read_catalogue_file

    names = [corpus] if isinstance(corpus, Path) else list(corpus)
    corpora: list[LabelledCorpus] = []
    for name in names:
        path = Path(name)
        if path.suffix == ".csv" and path.exists():
            corpora.append(corpus_of_texts(load_labelled_texts(path, limit=limit)))
        else:
            corpora += load_safety_corpora(corpora_dir, [str(name)], limit=limit)
    extra = load_review_labels(DataLayout(config.data_dir), until=labels_until) if review_labels else None
    texts = read_catalogue_file(*catalogue) if catalogue is not None else None
    train(
        config,
        corpora,
        progress=say,
        epochs=epochs,
        review_labels=extra,
        catalogue=texts,
        cross_corpus=cross_corpus,
        embedding_cache=embedding_cache,
    )


@review_app.command("export")
def review_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option(help="Annotation batch to write (.jsonl or .csv).")],
    model: Annotated[str, typer.Option(help="Policy model whose REVIEW band is exported.")] = "safety",
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many items, riskiest first.")] = None,
) -> None:
    """Export the catalogue items the model sends to review, with what a reviewer needs."""
    from content_signals.models.review import export_review_batch
    from content_signals.spark import spark_session

    config = config_of(ctx)
    result = export_review_batch(config, spark_session(config.spark), out, model, limit)
    say(
        f"{result.in_review_band:,} of {result.scored:,} items in {model} {result.model_version}'s "
        f"review band written to {result.path} (scores: {result.source})"
    )


@review_app.command("import")
def review_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A labelled annotation batch (.jsonl or .csv).")],
    model: Annotated[str, typer.Option(help="Model the labels train.")] = "safety",
) -> None:
    """Store reviewers' labels as timestamped training labels (all rows checked first)."""
    from content_signals.models.review import import_review_labels

    result = import_review_labels(config_of(ctx), path, model)
    say(
        f"{result.labelled:,} labels stored in {result.path} "
        f"({result.skipped_unlabelled:,} rows without a label skipped)"
    )


def evaluate(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name, e.g. safety.")],
    version: Annotated[str | None, typer.Option(help="Version (default: the newest).")] = None,
) -> None:
    """Write a model card (JSON + HTML with plots) from the version's held-out predictions."""
    from content_signals.models.cards import build_model_card

    layout = DataLayout(config_of(ctx).data_dir)
    build_model_card(layout.models_root, layout.model_cards_root, model, version, progress=say)


def promote(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="Model name, e.g. safety.")],
    version: Annotated[str, typer.Argument(help="Version to promote, e.g. v2.")],
    override: Annotated[bool, typer.Option(help="Promote even if a gate fails (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the gates are overridden (recorded).")] = None,
) -> None:
    """Promote a model version if it is no worse than the promoted one on the configured gates."""
    from content_signals.models.registry import promote as promote_version

    config = config_of(ctx)
    if override and not reason:
        raise SignalsError("--override needs --reason '...'")
    if reason and not override:
        raise SignalsError("--reason is only used with --override")
    model_root = DataLayout(config.data_dir).model_dir(model)
    record = promote_version(model_root, version, config.models.promotion_gates, reason if override else None)
    for check in record.checks:
        say(f"  {check}")
    was = f" (was {record.previous})" if record.previous else ""
    say(f"promoted {model} {version}{was}" + (f", overriding the gates: {reason}" if override else ""))
