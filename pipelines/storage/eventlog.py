"""The serving event log: append-only, durable, one small Parquet segment per event, compacted
into larger parts off the request path.

Layout of one table's log (``<data_dir>/events/<table>/``)::

    segments/seg-000000000042.parquet          one event, written and fsynced before any push
    parts/part-000000000001-000000005000.parquet  compacted runs of segments (same rows)
    .lock                                      fcntl lock of the appends (several workers)

Every row carries its sequence number (``__seq``) and a digest of its contract values
(``__digest``); text events also carry their vector (``__embedding``), so the online profile can
be recomputed from the log alone (a retried event is then pushed with the same values). A part
is written before its segments are deleted, and readers keep the first row of each ``__seq``,
so a compaction killed half-way never loses or doubles an event. An append costs one small
file whatever the log's size; the legacy single file ``events/<table>.parquet`` is still read.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.storage.files import write_arrow, write_parquet

SEQ, DIGEST, VECTOR = "__seq", "__digest", "__embedding"
INTERNAL = (SEQ, DIGEST, VECTOR)
_SEG = re.compile(r"seg-(\d{12})\.parquet")
_PART = re.compile(r"part-(\d{12})-(\d{12})\.parquet")


def digest(row: pd.DataFrame, columns: list[str]) -> str:
    """A stable digest of one row's contract values: equal for a retry of the same event."""
    values = {c: (None if pd.isna(v) else str(pd.Timestamp(v).isoformat()) if isinstance(v, pd.Timestamp)
                  else str(v)) for c, v in row[columns].iloc[0].items()}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:32]


def _seg_name(seq: int) -> str:
    return f"seg-{seq:012d}.parquet"


@dataclass
class EventLog:
    """One table's log as this process knows it (no I/O at init): the rows read at start-up in one
    frame indexed by id and by user, and the rows appended or caught up since as one-row frames."""

    directory: Path
    key: str
    bulk: pd.DataFrame | None = None
    bulk_ids: pd.Index = field(default_factory=lambda: pd.Index([], dtype=object))
    bulk_users: dict[str, np.ndarray] = field(default_factory=dict)
    fresh: dict[str, pd.DataFrame] = field(default_factory=dict)  # event id -> its one-row frame
    fresh_users: dict[str, list[str]] = field(default_factory=dict)
    last_seq: int = 0
    segment_count: int = 0  # segment files on disk, as far as this process knows (compaction trigger)

    @property
    def segments(self) -> Path:
        return self.directory / "segments"

    @property
    def parts(self) -> Path:
        return self.directory / "parts"

    def __len__(self) -> int:
        return len(self.bulk_ids) + len(self.fresh)

    def load(self) -> EventLog:
        """Read every part and segment (and the legacy single file) once; returns self."""
        frame = read_log_frame(self.directory)
        if frame is not None and len(frame):
            self.bulk = frame.reset_index(drop=True)
            self.bulk_ids = pd.Index(self.bulk[self.key].astype(str))
            self.bulk_users = self.bulk.groupby(self.bulk["user_id"].astype(str), sort=False).indices
            self.last_seq = max(0, int(self.bulk[SEQ].max()))
        self.recount()
        return self

    def recount(self) -> None:
        """Count the segment files on disk (after a load or a compaction)."""
        self.segment_count = len(_segments(self.segments))

    def get(self, event_id: str) -> pd.Series | None:
        """The logged row of ``event_id`` (contract and internal columns), or None."""
        if event_id in self.fresh:
            return self.fresh[event_id].iloc[0]
        pos = self.bulk_ids.get_indexer([event_id])[0] if len(self.bulk_ids) else -1
        return None if pos < 0 else self.bulk.iloc[pos]

    def user_rows(self, user_id: str) -> pd.DataFrame | None:
        """The user's logged rows in log order (None when there are none)."""
        parts = [self.fresh[e] for e in self.fresh_users.get(user_id, [])]
        if self.bulk is not None and user_id in self.bulk_users:
            parts.insert(0, self.bulk.iloc[self.bulk_users[user_id]])
        return pd.concat(parts, ignore_index=True) if parts else None

    def _add(self, frame: pd.DataFrame) -> None:
        """Index rows read from a segment or a part; rows already known are skipped."""
        for i in range(len(frame)):
            row = frame.iloc[[i]].reset_index(drop=True)
            event_id, seq = str(row[self.key].iloc[0]), int(row[SEQ].iloc[0])
            if self.get(event_id) is None:
                self.fresh[event_id] = row
                self.fresh_users.setdefault(str(row["user_id"].iloc[0]), []).append(event_id)
            self.last_seq = max(self.last_seq, seq)

    def fold(self, at_least: int) -> None:
        """Merge the one-row frames into the indexed frame once there are ``at_least`` of them, so
        memory and per-user lookups stay flat in a long-lived process (one O(log) pass, amortised)."""
        if len(self.fresh) < max(1, at_least):
            return
        frames = ([self.bulk] if self.bulk is not None else []) + list(self.fresh.values())
        self.bulk = pd.concat(frames, ignore_index=True)
        self.bulk_ids = pd.Index(self.bulk[self.key].astype(str))
        self.bulk_users = self.bulk.groupby(self.bulk["user_id"].astype(str), sort=False).indices
        self.fresh, self.fresh_users = {}, {}

    def catch_up(self) -> None:
        """Read the events other workers appended since this process last looked (call under the
        lock): segments by their next sequence numbers, a part when one was compacted away."""
        while True:
            path = self.segments / _seg_name(self.last_seq + 1)
            try:
                self._add(pq.read_table(path).to_pandas())
                continue
            except FileNotFoundError:
                pass
            covering = [p for p, (a, b) in _parts(self.parts) if a <= self.last_seq + 1 <= b]
            if not covering:
                return
            part = pq.read_table(covering[0]).to_pandas()
            self._add(part[part[SEQ] > self.last_seq])

    def append(self, row: pd.DataFrame, row_digest: str, vector: np.ndarray | None) -> int:
        """Durably write one event as the next segment (call under the lock); returns its sequence."""
        seq = self.last_seq + 1
        out = row.reset_index(drop=True).assign(**{SEQ: seq, DIGEST: row_digest})
        if vector is not None:
            out[VECTOR] = [np.asarray(vector, dtype=np.float32).tolist()]
        path = self.segments / _seg_name(seq)
        write_parquet(out, path, durable=True)
        self.segment_count += 1
        self._add(pq.read_table(path).to_pandas())  # the row as every reader will see it (same dtypes)
        return seq

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive lock of this log across worker processes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _parts(directory: Path) -> list[tuple[Path, tuple[int, int]]]:
    found = [(p, _PART.fullmatch(p.name)) for p in directory.glob("part-*.parquet")] if directory.is_dir() else []
    return sorted(((p, (int(m.group(1)), int(m.group(2)))) for p, m in found if m), key=lambda x: x[1])


def _segments(directory: Path) -> list[tuple[Path, int]]:
    if not directory.is_dir():
        return []
    found = ((p, _SEG.fullmatch(p.name)) for p in directory.iterdir())
    return sorted(((p, int(m.group(1))) for p, m in found if m), key=lambda x: x[1])


def log_files(directory: Path) -> list[Path]:
    """Every file of one table's log in read order: legacy file, parts, segments."""
    legacy = directory.parent / f"{directory.name}.parquet"
    return ([legacy] if legacy.is_file() else []) + [p for p, _ in _parts(directory / "parts")] + \
        [p for p, _ in _segments(directory / "segments")]


def read_log_table(directory: Path) -> pa.Table | None:
    """Every logged row of one table once (first of each ``__seq``), in log order, or None."""
    files = log_files(directory)
    if not files:
        return None
    tables = []
    for i, path in enumerate(files):
        table = pq.read_table(path)
        if SEQ not in table.column_names:  # the legacy single file: sequence numbers below every segment
            table = table.append_column(SEQ, pa.array(np.arange(len(table)) - len(table) - 1, pa.int64()))
        tables.append(table)
    table = pa.concat_tables(tables, promote_options="permissive")
    seqs = table.column(SEQ).to_numpy()
    _, first = np.unique(seqs, return_index=True)  # sorted by sequence, first occurrence of each
    return table.take(pa.array(first))


def read_log_frame(directory: Path) -> pd.DataFrame | None:
    table = read_log_table(directory)
    return None if table is None else table.to_pandas()


def contract_rows(directory: Path) -> pa.Table | None:
    """The log as raw-contract rows for ingest (internal columns dropped)."""
    table = read_log_table(directory)
    if table is None:
        return None
    return table.drop_columns([c for c in INTERNAL if c in table.column_names])


def compact(directory: Path, min_segments: int) -> Path | None:
    """Merge the table's segments into one part when at least ``min_segments`` exist; returns the
    part written (None when there was nothing to do or another process is compacting)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".compact.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        segments = _segments(directory / "segments")
        if len(segments) < max(1, min_segments):
            return None
        table = pa.concat_tables([pq.read_table(p) for p, _ in segments], promote_options="permissive")
        first, last = segments[0][1], segments[-1][1]
        part = directory / "parts" / f"part-{first:012d}-{last:012d}.parquet"
        write_arrow(table, part, durable=True)
        for path, _ in segments:  # only after the part is durable: a crash here leaves duplicates, not holes
            path.unlink(missing_ok=True)
        return part
