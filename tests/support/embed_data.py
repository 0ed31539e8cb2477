"""Shared pieces of the embedding-job tests: the real MiniLM model (loaded once per process)
and tiny curated workspaces written directly, without the ingest stage."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from pipelines.common.config import PowerTierConfig, load_config
from pipelines.storage.files import write_parquet
from pipelines.common.workspace import Workspace

T0 = pd.Timestamp("2025-03-01", tz="UTC")


@lru_cache(maxsize=1)
def real_model():
    """all-MiniLM-L6-v2 on CPU in fp32 (exact comparisons), loaded once per test process."""
    from embeddings.encoder import load_encoder

    return load_encoder(load_config(encoder__model="all-MiniLM-L6-v2", encoder__device="cpu",
                                    encoder__precision="fp32"))


@lru_cache(maxsize=1)
def default_model():
    """The default encoder (multilingual-e5-small) on CPU at its default precision (fp32)."""
    from pipelines.storage.models import load_model

    return load_model(load_config(encoder__model="multilingual-e5-small", encoder__device="cpu"))


def config(data_dir: Path, **overrides) -> PowerTierConfig:
    """A workspace config on CPU; the embedding-job unit tests use MiniLM (small and fast)
    unless they ask for another model; the default encoder has its own tests."""
    overrides.setdefault("encoder__model", "all-MiniLM-L6-v2")
    overrides.setdefault("encoder__precision", "fp32")  # the precision of real_model()
    return load_config(data_dir=str(data_dir), encoder__device="cpu", **overrides)


def events(rows: list[tuple[str, int, str]], id_prefix: str, text_col: str) -> pd.DataFrame:
    """A curated review/search table from (user, day offset, text) rows."""
    return pd.DataFrame({
        f"{id_prefix}_id": pd.array([f"{id_prefix}{i}" for i in range(len(rows))], dtype="string"),
        "user_id": pd.array([r[0] for r in rows], dtype="string"),
        "ts": (T0 + pd.to_timedelta([r[1] for r in rows], unit="D")).astype("datetime64[us, UTC]"),
        text_col: pd.array([r[2] for r in rows], dtype="string"),
    })


REVIEWS = [
    ("u1", 0, "Great headphones, the sound is excellent."),
    ("u1", 3, "Battery died after two weeks, disappointed."),
    ("u1", 3, "Great headphones, the sound is excellent."),
    ("u2", 1, "质量很好，物超所值。"),
    ("u2", 5, "GREAT HEADPHONES, the sound is excellent."),
    ("u3", 2, "Use code VIP123 at http://promo.example/deal for 70% OFF!!! $$$$"),
    ("u3", 4, "加微信 wx_8888 领优惠券"),
    ("u4", 2, "ok"),
]
SEARCHES = [
    ("u1", 0, "wireless headphones"),
    ("u1", 2, "noise cancelling headphones"),
    ("u1", 2, "wireless headphones"),
    ("u2", 1, "香水"),
    ("u2", 9, "luxury perfume gift set"),
    ("u3", 1, "casino bonus http://spin.example"),
    ("u4", 3, "running shoes"),
]


def write_curated(data_dir: Path, reviews: list | None = REVIEWS, searches: list | None = SEARCHES) -> Workspace:
    """A curated workspace: users u1-u4 plus the given review/search rows (None = no table)."""
    ws = Workspace(Path(data_dir))
    users = pd.DataFrame({"user_id": pd.array(["u1", "u2", "u3", "u4"], dtype="string"),
                          "signup_ts": pd.Series([T0 - pd.Timedelta(days=30)] * 4).astype("datetime64[us, UTC]")})
    write_parquet(users, ws.curated_table("users"))
    for name, rows, prefix, col in (("reviews", reviews, "r", "text"), ("searches", searches, "s", "query")):
        path = ws.curated_table(name)
        if rows is None:
            path.unlink(missing_ok=True)
        else:
            write_parquet(events(rows, prefix, col), path)
    return ws


def file_bytes(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` by relative path (for byte-identity checks)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
