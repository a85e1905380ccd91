from __future__ import annotations

from pathlib import Path

import pytest

from content_signals.config import expand_env, load_config
from content_signals.errors import SignalsError


def test_embedded_defaults_need_no_file() -> None:
    config = load_config()
    assert config.spark.master == "local[*]"
    assert config.feast.online_store.type == "sqlite"
    assert config.serving.grpc_port == 9000
    assert config.ray.address is None
    assert config.data_dir.is_absolute()


def test_yaml_values_expand_environment_variables(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "data_dir: ${DATA_ROOT}/signals\n"
        "serving:\n  grpc_port: ${PORT:-9100}\n"
        "feast:\n  online_store:\n    type: redis\n    connection_string: ${REDIS:-127.0.0.1:6379}\n"
    )
    config = load_config(path, environ={"DATA_ROOT": str(tmp_path), "REDIS": "cache:6380"})
    assert config.data_dir == tmp_path / "signals"
    assert config.serving.grpc_port == 9100
    assert config.feast.online_store.connection_string == "cache:6380"


def test_an_unset_variable_without_default_is_an_error() -> None:
    with pytest.raises(SignalsError, match=r"\$\{MISSING\}"):
        expand_env("path: ${MISSING}", {})


def test_unknown_keys_and_bad_values_are_rejected_with_their_location(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("serving:\n  grcp_port: 1\n")
    with pytest.raises(SignalsError, match=r"serving\.grcp_port"):
        load_config(path)
    path.write_text("serving:\n  grpc_port: 70000\n")
    with pytest.raises(SignalsError, match=r"serving\.grpc_port"):
        load_config(path)


def test_a_missing_or_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SignalsError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("serving: [unclosed\n")
    with pytest.raises(SignalsError, match="not valid YAML"):
        load_config(bad)


def test_relative_store_paths_resolve_under_the_data_directory(tmp_path: Path) -> None:
    config = load_config(overrides={"data_dir": str(tmp_path)})
    assert config.resolve(config.feast.online_store.path) == tmp_path / "online_store.db"
    assert config.resolve("/abs/registry.db") == Path("/abs/registry.db")


def test_the_example_config_documents_exactly_the_defaults() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "example.yaml"
    assert "${VAR}" in example.read_text()  # a placeholder in a comment is not expanded
    assert load_config(example, environ={}) == load_config()
