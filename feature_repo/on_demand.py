"""Request-time features: computed from inputs that arrive with the request, online and in training.

A new upload has no partition yet, but the moderation model must judge its text now. The
``upload_text_features`` on-demand view turns the request's ``upload_title`` and
``upload_description`` into the same text signals the ``content_metadata`` job computes, with the
same Arrow word/letter/URL/emoji statistics (:func:`content_signals.text_stats.stats_batches`), so an
upload is described exactly as it will be once its partition exists (a test compares them).

One pandas function, :func:`upload_text_features`, is both the Feast on-demand view's
transformation (online, ``get_online_features``) and what training sets run over Spark partitions
(``mapInPandas``), so the two cannot drift apart.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from content_signals.definitions import DType

REQUEST_SOURCE = "upload_text"
VIEW_NAME = "upload_text_features"
INPUTS = ("upload_title", "upload_description")


@dataclass(frozen=True)
class OutputFeature:
    name: str
    dtype: DType  # int64 | double | bool
    description: str


OUTPUTS = (
    OutputFeature("upload_title_length", "int64", "content_metadata.title_length of the request's title."),
    OutputFeature(
        "upload_title_caps_ratio", "double", "content_metadata.title_caps_ratio of the request's title."
    ),
    OutputFeature(
        "upload_has_url", "bool", "content_metadata.has_url of the request's title and description."
    ),
    OutputFeature(
        "upload_has_emoji", "bool", "content_metadata.has_emoji of the request's title and description."
    ),
    OutputFeature(
        "upload_keyword_stuffing_score",
        "double",
        "content_metadata.keyword_stuffing_score of the request's title and description.",
    ),
)


def upload_text_features(inputs: pd.DataFrame) -> pd.DataFrame:
    """The request's text signals, one row per input row (nulls count as empty text)."""
    # Imports inside: Feast stores this function in its registry (dill) and runs it elsewhere,
    # where this module's globals are not restored.
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from content_signals.definitions import STUFFING_MIN_WORDS
    from content_signals.text_stats import stats_batches

    title = (
        inputs["upload_title"].astype(object).where(inputs["upload_title"].notna(), "").map(str).str.strip()
    )
    description = (
        inputs["upload_description"]
        .astype(object)
        .where(inputs["upload_description"].notna(), "")
        .map(str)
        .str.strip()
    )
    batch = pa.RecordBatch.from_pydict(
        {
            "title": pa.array(title.tolist(), pa.string()),
            "description": pa.array(description.tolist(), pa.string()),
        }
    )
    [stats] = list(stats_batches([batch]))
    column = {name: stats.column(name).to_numpy(zero_copy_only=False) for name in stats.schema.names}
    letters, upper = column["title_letter_count"], column["title_upper_count"]
    words, distinct = column["text_word_count"], column["text_distinct_word_count"]
    with np.errstate(divide="ignore", invalid="ignore"):
        caps = np.where(letters > 0, np.minimum(upper / np.maximum(letters, 1), 1.0), 0.0)
        stuffing = np.where(words < STUFFING_MIN_WORDS, 0.0, 1.0 - distinct / np.maximum(words, 1))
    return pd.DataFrame(
        {
            "upload_title_length": title.str.len().astype("int64").to_numpy(),
            "upload_title_caps_ratio": caps.astype("float64"),
            "upload_has_url": column["has_url"].astype(bool),
            "upload_has_emoji": column["has_emoji"].astype(bool),
            "upload_keyword_stuffing_score": stuffing.astype("float64"),
        },
        index=inputs.index,
    )


def upload_text_view():  # type: ignore[no-untyped-def]
    """The Feast on-demand feature view (and its request source) over :func:`upload_text_features`."""
    from feast import Field, RequestSource
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Bool, Float64, Int64, String

    types = {"int64": Int64, "double": Float64, "bool": Bool}
    source = RequestSource(
        name=REQUEST_SOURCE,
        schema=[Field(name=name, dtype=String) for name in INPUTS],
        description="Title and description sent with the request (a new upload's text).",
    )
    return on_demand_feature_view(
        name=VIEW_NAME,
        sources=[source],
        # (No descriptions: Feast compares these fields with the ones it infers by running the function.)
        schema=[Field(name=o.name, dtype=types[o.dtype]) for o in OUTPUTS],
        mode="pandas",
        description="Text signals of a new upload, computed at request time from its title and description.",
        tags={"request_time": "true"},
    )(_copy(upload_text_features))


def _copy(function: Callable[..., Any]) -> Callable[..., Any]:
    """A separate function object with the same code: Feast's decorator re-labels the function it
    wraps as ``__main__``'s (so dill stores it by value), which must not happen to the module's own
    function, or a second repo build in the same process cannot find its source."""
    copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__doc__ = function.__doc__
    return copy
