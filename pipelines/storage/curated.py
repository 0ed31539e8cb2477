"""Reading the curated tables written by ingest (thin I/O)."""

from __future__ import annotations

import pandas as pd

from pipelines.common.errors import UserError
from pipelines.storage.files import read_parquet
from pipelines.common.workspace import REQUIRED_TABLES, TABLES, Workspace


def load_curated(ws: Workspace) -> dict[str, pd.DataFrame | None]:
    """Every curated table (None for an absent optional one); a clear error if ingest has not run."""
    tables: dict[str, pd.DataFrame | None] = {}
    for name in TABLES:
        path = ws.curated_table(name)
        if not path.exists() and name in REQUIRED_TABLES:
            raise UserError(f"no curated {name!r} table in {ws.curated}; run `powertier ingest --raw DIR` first")
        tables[name] = read_parquet(path) if path.exists() else None
    return tables
