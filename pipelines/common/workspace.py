"""Where everything of one workspace lives, all under ``config.data_dir``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TABLES = ("users", "orders", "reviews", "searches", "tiers")
REQUIRED_TABLES = ("users", "orders")


@dataclass(frozen=True)
class Workspace:
    """Paths of one isolated workspace. Creating it touches nothing on disk."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def curated(self) -> Path:
        return self.root / "curated"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def features(self) -> Path:
        return self.root / "features"

    @property
    def embeddings(self) -> Path:
        return self.root / "embeddings"

    @property
    def feast(self) -> Path:
        return self.root / "feast"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def backtests(self) -> Path:
        return self.root / "backtests"

    @property
    def events(self) -> Path:
        return self.root / "events"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def curated_table(self, table: str) -> Path:
        return self.curated / f"{table}.parquet"

    def quarantine_table(self, table: str) -> Path:
        return self.quarantine / f"{table}.parquet"

    def feature_table(self, view: str) -> Path:
        return self.features / f"{view}.parquet"

