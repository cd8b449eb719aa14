"""Settings: read once, at the edge, from ``KGSEARCH_*`` environment variables or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KGSEARCH_", env_file=".env", extra="ignore")

    home: Path = Field(
        default=Path("~/.local/share/kgsearch"),
        description="Data directory: graph, index versions, generated catalogue.",
    )
    mode: Literal["development", "production"] = "development"
    graph_backend: Literal["sqlite", "neo4j"] = "sqlite"
    search_backend: Literal["embedded", "elasticsearch"] = "embedded"
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_namespace: str = "main"
    neo4j_user: str | None = None
    neo4j_password: SecretStr | None = None
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_prefix: str = "kgsearch-products"
    deployment_id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Marks the Elasticsearch indexes this deployment owns "
        "(default: a random id kept in <home>/deployment_id).",
    )
    backend_timeout_s: float = Field(default=10.0, gt=0, le=300)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Server worker processes (`kgsearch serve`); 0: one per CPU core this "
        "process may use. Workers share the index files through the page cache.",
    )
    ranker: str | None = Field(default=None, description="Override the index's default ranker.")
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    encoder_runtime: Literal["auto", "onnx", "torch"] = Field(
        default="auto",
        description=(
            "How the MiniLM encoder runs: onnx (ONNX Runtime, CPU; no torch on the query "
            "path), torch (transformers), or auto: onnx when the device is cpu and "
            "onnxruntime loads the exported model, else torch."
        ),
    )
    encoder_model_dir: Path | None = Field(
        default=None,
        description=(
            "A local folder holding another mean-pooled sentence model (e.g. "
            "all-mpnet-base-v2) to run instead of the packaged all-MiniLM-L6-v2, on the "
            "torch runtime; its name and width come from its files. An index built with "
            "one model is not served with another: run `kgsearch reindex` after changing it."
        ),
    )
    encoder_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        description="ONNX Runtime intra-op threads for the encoder, per query.",
    )
    encoder_batch_threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description="ONNX Runtime intra-op threads for bulk encoding (a reindex); 0: one per "
        "CPU core this process may use.",
    )
    model_cache: Path = Field(
        default=Path("~/.cache/kgsearch/models"),
        description="Where the ONNX export of the encoder is kept (shared by every home).",
    )
    recall_k: int = Field(default=200, ge=10, le=5_000)
    keep_versions: int = Field(default=3, ge=0, le=100)
    admin_api_key: SecretStr | None = None
    api_keys_file: Path | None = Field(
        default=None, description="API keys (hashed); default: <home>/api_keys.json."
    )
    max_body_bytes: int = Field(
        default=2**20, ge=1_024, description="Largest JSON request body (bytes); beyond: 413."
    )
    max_upload_bytes: int = Field(
        default=64 * 2**20, ge=1_024, description="Largest catalogue import upload (bytes)."
    )
    max_events_body_bytes: int = Field(
        default=16 * 2**20, ge=1_024, description="Largest POST /events body (bytes)."
    )
    max_delete_share: float = Field(
        default=0.1, ge=0, le=1, description="Largest share of products a replace import deletes."
    )
    rules_ndcg_margin: float = Field(
        default=0.005,
        ge=0,
        le=1,
        description="A rule lowering judged NDCG@10 by more needs force to publish.",
    )
    events_max_age_days: float = Field(
        default=1_095.0,
        gt=0,
        description="Oldest shop event accepted, in days (about 3 years; backfills pass more).",
    )
    events_retention_days: int = Field(
        default=400, ge=1, description="Elasticsearch events data stream: days kept after rollover."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = Field(
        default=None,
        description="Every logger's level, libraries' too (None: WARNING; the CLI's -v: DEBUG).",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _onnx_runs_on_cpu(self) -> Settings:
        if self.encoder_runtime == "onnx" and self.device != "cpu":
            raise ValueError(
                f"KGSEARCH_ENCODER_RUNTIME=onnx runs on the CPU only; with KGSEARCH_DEVICE="
                f"{self.device} use KGSEARCH_ENCODER_RUNTIME=torch (or auto)"
            )
        return self

    @model_validator(mode="after")
    def _model_dir_runs_on_torch(self) -> Settings:
        if self.encoder_model_dir is not None and self.encoder_runtime == "onnx":
            raise ValueError(
                "KGSEARCH_ENCODER_MODEL_DIR runs on the torch runtime; the ONNX runtime runs "
                "the packaged MiniLM only: use KGSEARCH_ENCODER_RUNTIME=torch (or auto)"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.mode == "production" and (
            self.admin_api_key is None or len(self.admin_api_key.get_secret_value()) < 16
        ):
            raise ValueError(
                "production mode needs KGSEARCH_ADMIN_API_KEY (16+ characters); "
                "there is no default key"
            )
        return self

    @property
    def data_dir(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def model_cache_dir(self) -> Path:
        return self.model_cache.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
