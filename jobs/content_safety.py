"""Safety scores for catalogue items in Spark: the text classifier over each item's text.

Each Python worker loads the encoder and the model version once (both cached per process) and
scores Arrow batches: title and description are joined (:func:`jobs.content_embedding.text_column`),
normalised as in training, embedded and classified. The output is one probability per class and
the unsafe score (1 - P(neither)) that decisions are taken on.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from torch import nn

from content_signals.config import TextEncoderConfig
from content_signals.errors import SignalsError
from content_signals.models import TEXT_CLASSIFIER, ModelCard, load_model
from content_signals.text import normalise_text
from content_signals.text_encoder import check_encoder_matches, shared_encoder
from jobs.content_embedding import encoder_for_spark, spread_over_cores, text_column


@cache
def _classifier(model_dir: str) -> tuple[ModelCard, nn.Module]:
    return load_model(Path(model_dir))


def score_content(content: DataFrame, model_dir: Path, encoder_config: TextEncoderConfig) -> DataFrame:
    """``content_id``, ``p_<class>`` per class and ``unsafe_score`` for every item."""
    card, _ = _classifier(str(model_dir))
    if card.kind != TEXT_CLASSIFIER:
        raise SignalsError(f"{card.name} {card.version} is not a text classifier")
    check_encoder_matches(
        card.name, card.version, card.text_encoder.get("weights_sha256"), shared_encoder(encoder_config)
    )
    spark = content.sparkSession
    encoder = encoder_for_spark(spark, encoder_config)
    classes = card.classes
    neither = classes.index("neither")
    schema = ", ".join(f"p_{c} double" for c in classes) + ", unsafe_score double"
    path = str(model_dir)

    @F.pandas_udf(f"struct<{schema.replace(' double', ': double')}>")  # type: ignore[call-overload]
    def classify(batches: Iterator[pd.Series]) -> Iterator[pd.DataFrame]:
        text_encoder = shared_encoder(encoder)
        _, head = _classifier(path)
        for texts in batches:
            embeddings = text_encoder.encode([normalise_text(t) for t in texts.fillna("").tolist()])
            with torch.no_grad():
                probabilities = torch.softmax(head(torch.from_numpy(embeddings)), dim=1).numpy()
            frame = pd.DataFrame(
                {f"p_{c}": probabilities[:, i].astype(np.float64) for i, c in enumerate(classes)}
            )
            frame["unsafe_score"] = 1.0 - frame[f"p_{classes[neither]}"]
            yield frame

    scored = spread_over_cores(content).select("content_id", classify(text_column()).alias("scores"))
    return scored.select("content_id", "scores.*")
