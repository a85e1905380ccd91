"""The sentence encoder, offline, and its Spark job: the job embeds exactly as one process does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from content_signals.config import PlatformConfig, TextEncoderConfig, load_config
from content_signals.errors import SignalsError
from content_signals.models.batch_scoring import embed_content, encoder_for_spark
from content_signals.models.text_encoder import TextEncoder, shared_encoder
from content_signals.text import text_of

CPU = TextEncoderConfig(device="cpu")


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return shared_encoder(CPU)


def test_packaged_minilm_loads_offline_and_embeds_to_unit_vectors(encoder: TextEncoder) -> None:
    vectors = encoder.encode(["a happy song about summer", ""])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.info.name == "all-MiniLM-L6-v2"
    assert encoder.info.dimension == 384
    assert len(encoder.info.weights_sha256) == 16


def test_embeddings_carry_meaning(encoder: TextEncoder) -> None:
    song, similar, unrelated = encoder.encode(
        ["a cheerful song about the summer", "an upbeat summer tune", "a lecture on corporate tax law"]
    )
    assert float(song @ similar) > float(song @ unrelated) + 0.3


def test_encoding_is_deterministic_and_independent_of_batch_size(encoder: TextEncoder) -> None:
    texts = [f"episode {i}: interview with a guest about {topic}" for i, topic in enumerate("abcdefg")]
    np.testing.assert_allclose(encoder.encode(texts, batch_size=2), encoder.encode(texts), atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_non_text_input_is_refused(encoder: TextEncoder) -> None:
    with pytest.raises(SignalsError, match="must be strings"):
        encoder.encode(["fine", None])  # type: ignore[list-item]


def test_a_missing_model_directory_fails_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(SignalsError, match=f"no sentence-transformers model at {tmp_path}"):
        TextEncoder(TextEncoderConfig(path=tmp_path, device="cpu"))


def test_encoder_settings_come_from_the_typed_config() -> None:
    config = load_config(overrides={"models": {"text_encoder": {"batch_size": 16, "device": "cpu"}}})
    assert config.models.text_encoder.batch_size == 16
    with pytest.raises(SignalsError):
        load_config(overrides={"models": {"text_encoder": {"device": "tpu"}}})


def test_text_of_joins_trimmed_title_and_description() -> None:
    assert text_of(" Title ", " Description ") == "Title. Description"
    assert text_of("Title", None) == "Title"
    assert text_of(None, "  ") == ""


def test_spark_job_embeds_exactly_as_one_process(
    spark: SparkSession, platform_config: PlatformConfig, encoder: TextEncoder
) -> None:
    rows = [
        (f"c{i}", f"Track {i}: a song about {'rain' if i % 2 else 'sun'}", "live" * (i % 3))
        for i in range(60)
    ]
    rows += [("null_title", None, "only a description"), ("blank", "  ", None), ("nothing", None, None)]
    content = spark.createDataFrame(rows, "content_id string, title string, description string")

    embedded = embed_content(content.repartition(3), CPU).toPandas().set_index("content_id")

    expected = encoder.encode([text_of(title, description) for _, title, description in rows])
    got = np.stack([np.asarray(embedded.loc[cid, "text_embedding"], dtype=np.float32) for cid, *_ in rows])
    assert got.shape == (len(rows), 384)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_spark_shares_cores_between_concurrent_encoder_tasks(spark: SparkSession) -> None:
    threads = encoder_for_spark(spark, CPU).torch_threads
    assert threads is not None and threads >= 1
    assert encoder_for_spark(spark, TextEncoderConfig(torch_threads=3)).torch_threads == 3
