"""Keeping the online store equal to the offline tables: what changed, what is missing.

Feast's materialization only moves *new* intervals, so a corrected past order (same timestamps,
new values) never reached the online store, and a deleted or emptied online store was never
refilled. Two records make both visible:

* ``<data_dir>/feast/materialized.json``: the SHA-256 of each offline table as last materialized,
  and a token naming that online store;
* the same token *inside* the online store (a one-row SQLite table next to Feast's, or a Redis
  key). A missing, emptied or replaced online store has no token, or another one.

A view whose table fingerprint changed is cleared online and materialized from the start; when
the token does not match, every view is. The state is written only after a view succeeded, and
a view's fingerprint is removed before its online rows are cleared, so a crash at any point
makes the next run rebuild what may be incomplete.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feature_repo.names import PROJECT
from pipelines.common.workspace import Workspace
from pipelines.storage.files import read_json, write_json

if TYPE_CHECKING:
    from feast import FeatureStore

STATE_FILE = "materialized.json"
MARKER_TABLE = "powertier_materialized"
MARKER_KEY = f"powertier:{PROJECT}:materialized"


def table_fingerprint(path: Path) -> str | None:
    """SHA-256 of an offline table file (None when it does not exist)."""
    if not path.exists():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_state(ws: Workspace) -> dict[str, Any]:
    """The last materialization's record (empty when there was none or it is unreadable)."""
    path = ws.feast / STATE_FILE
    try:
        state = read_json(path) if path.exists() else {}
    except (OSError, ValueError):
        state = {}
    return {"token": state.get("token"), "views": dict(state.get("views") or {})}


def write_state(ws: Workspace, state: dict[str, Any]) -> None:
    write_json(state, ws.feast / STATE_FILE)


def _redis(store: FeatureStore):
    # Feast keeps its redis-py client private; the token needs one plain GET/SET.
    return store._get_provider().online_store._get_client(store.config.online_store)


def online_token(store: FeatureStore) -> str | None:
    """The token stored in the online store, or None when it is missing, empty or not ours.

    Never creates anything: a read-only SQLite connection, so probing a deleted ``online.db``
    does not leave a 0-byte file behind that later looks like a store.
    """
    online = store.config.online_store
    if getattr(online, "type", "sqlite") == "redis" or type(online).__name__.startswith("Redis"):
        value = _redis(store).get(MARKER_KEY)
        return value.decode() if value else None
    path = Path(online.path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
            row = conn.execute(f"select token from {MARKER_TABLE}").fetchone()
    except sqlite3.Error:  # no marker table: an empty or foreign database
        return None
    return row[0] if row else None


def online_store_problem(store: FeatureStore) -> str | None:
    """Why the online store cannot serve (missing, empty, never materialized), or None."""
    if online_token(store) is None:
        return ("online store is missing or empty (never materialized, deleted or flushed); "
                "run `powertier features materialize`")
    return None


def set_online_token(store: FeatureStore, token: str) -> None:
    """Store ``token`` inside the online store."""
    online = store.config.online_store
    if getattr(online, "type", "sqlite") == "redis" or type(online).__name__.startswith("Redis"):
        _redis(store).set(MARKER_KEY, token)
        return
    with contextlib.closing(sqlite3.connect(online.path, timeout=30)) as conn, conn:
        conn.execute(f"create table if not exists {MARKER_TABLE} (token text not null)")
        conn.execute(f"delete from {MARKER_TABLE}")
        conn.execute(f"insert into {MARKER_TABLE} values (?)", (token,))


def clear_online_view(store: FeatureStore, name: str) -> None:
    """Drop every online row of view ``name`` and recreate its (empty) table."""
    view = store.get_feature_view(name)
    provider = store._get_provider()  # the public apply() never deletes the rows of a kept view
    provider.update_infra(PROJECT, tables_to_delete=[view], tables_to_keep=[], entities_to_delete=[],
                          entities_to_keep=[], partial=True)
    provider.update_infra(PROJECT, tables_to_delete=[], tables_to_keep=[view], entities_to_delete=[],
                          entities_to_keep=[], partial=True)


def plan(store: FeatureStore, ws: Workspace, names: list[str], every: list[str],
         full: bool) -> tuple[dict[str, str], str]:
    """Which views to rebuild from scratch, each with its reason, and the token to keep.

    ``names`` are the views asked for, ``every`` all registered views: a lost online store is
    refilled entirely even when only one view was asked for (recovery keeps every view).
    """
    state, token = read_state(ws), online_token(store)
    if full:
        return dict.fromkeys(names, "--full"), token or uuid.uuid4().hex
    if token is None or token != state["token"]:
        why = ("online store empty (first materialization, or the store was lost)" if token is None
               else "online store is not the one last materialized")
        return dict.fromkeys(every, why), token or uuid.uuid4().hex
    changed = {n: "offline table changed" for n in names
               if table_fingerprint(ws.feature_table(n)) != state["views"].get(n)}
    return changed, token


def record(ws: Workspace, token: str, name: str, fingerprint: str | None) -> None:
    """Note that view ``name`` is online as of table ``fingerprint`` (None: unknown, rebuild)."""
    state = read_state(ws)
    if state["token"] != token:
        state = {"token": token, "views": {}}
    if fingerprint is None:
        state["views"].pop(name, None)
    else:
        state["views"][name] = fingerprint
    write_state(ws, state)


def describe(rebuilt: dict[str, str]) -> str:
    """One line for the CLI: which views were rebuilt and why."""
    if not rebuilt:
        return "no offline table changed"
    return "rebuilt " + ", ".join(f"{n} ({why})" for n, why in sorted(rebuilt.items()))
