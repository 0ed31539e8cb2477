"""The event log as append-only segments plus compaction (issue 14, item 10): every event is
read exactly once, by the server and by ingest, whatever compaction did or was doing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.ingest.job import with_event_log
from pipelines.storage.eventlog import SEQ, EventLog, compact, contract_rows, digest, log_files
from pipelines.storage.files import write_parquet

COLUMNS = ["order_id", "user_id", "ts", "amount", "status", "category", "discount"]


def _order(i: int, user: str = "u1") -> pd.DataFrame:
    return pd.DataFrame({"order_id": pd.array([f"o{i}"], dtype="string"), "user_id": pd.array([user], dtype="string"),
                         "ts": pd.to_datetime([1_700_000_000 + i], unit="s", utc=True).astype("datetime64[us, UTC]"),
                         "amount": [float(i)], "status": pd.array(["completed"], dtype="string"),
                         "category": pd.array([None], dtype="string"), "discount": [np.nan]})


def _append(log: EventLog, i: int, user: str = "u1") -> None:
    with log.lock():
        log.catch_up()
        row = _order(i, user)
        log.append(row, digest(row, COLUMNS), None)


def _ids(directory) -> list[str]:
    return contract_rows(directory).column("order_id").to_pylist()


def test_each_event_is_read_once_through_segments_parts_and_a_half_done_compaction(tmp_path):
    directory = tmp_path / "events" / "orders"
    log = EventLog(directory, "order_id").load()
    for i in range(5):
        _append(log, i)
    assert compact(directory, 3) is not None and log_files(directory)[0].parent.name == "parts"
    for i in range(5, 8):
        _append(log, i)
    # A compaction killed after writing its part but before deleting the segments.
    segments = sorted((directory / "segments").iterdir())
    table = pa.concat_tables([pq.read_table(p) for p in segments])
    pq.write_table(table, directory / "parts" / "part-000000000006-000000000008.parquet")
    assert _ids(directory) == [f"o{i}" for i in range(8)]
    assert EventLog(directory, "order_id").load().last_seq == 8
    assert sorted(EventLog(directory, "order_id").load().user_rows("u1")["order_id"]) == [f"o{i}" for i in range(8)]
    assert compact(directory, 1) is not None  # compacts the leftover segments again: still once each
    assert _ids(directory) == [f"o{i}" for i in range(8)] and not list((directory / "segments").iterdir())


def test_a_second_worker_catches_up_with_appends_and_compactions(tmp_path):
    directory = tmp_path / "orders"
    a, b = EventLog(directory, "order_id").load(), EventLog(directory, "order_id").load()
    _append(a, 1)
    _append(a, 2, user="u2")
    compact(directory, 1)  # b never saw the segments: it must find them in the part
    _append(a, 3)
    with b.lock():
        b.catch_up()
    assert b.get("o2") is not None and b.get("o3") is not None and b.last_seq == 3
    _append(b, 4)  # b appends after a's events, never over them
    assert _ids(directory) == ["o1", "o2", "o3", "o4"]
    b.fold(1)
    assert list(b.user_rows("u1")["order_id"]) == ["o1", "o3", "o4"] and b.get("o2")["user_id"] == "u2"


def test_ingest_includes_every_logged_event_once_with_the_legacy_file(tmp_path):
    events = tmp_path / "events"
    legacy = pd.concat([_order(100), _order(101)], ignore_index=True)
    write_parquet(legacy, events / "orders.parquet")  # the log format before segments
    log = EventLog(events / "orders", "order_id").load()
    for i in range(3):
        _append(log, i)
    compact(events / "orders", 2)
    _append(log, 3)
    tables = with_event_log({}, events)
    frame = tables["orders"].frame
    assert list(frame["order_id"]) == ["o100", "o101", "o0", "o1", "o2", "o3"]
    assert list(frame["source_row"]) == [1, 2, 3, 4, 5, 6] and SEQ not in frame.columns
    assert not any(c.startswith("__") for c in frame.columns)
