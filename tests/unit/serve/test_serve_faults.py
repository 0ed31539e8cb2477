"""Faults on the event path (issue 14, item 3): a failed log append or a push that times out
after it was applied, then two retries of the same event, must count the event exactly once."""

from __future__ import annotations

import errno
import sqlite3

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from pipelines.common.workspace import Workspace
from pipelines.serve.app import create_app
from pipelines.storage import feast_store
from pipelines.storage.eventlog import contract_rows
from tests.support.serve_data import AS_OF, RUN_ID, SERVICE, build_workspace, fake_encoder, fake_vector


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return build_workspace(tmp_path_factory.mktemp("faults") / "ws")


@pytest.fixture(scope="module")
def client(cfg):
    app = create_app(cfg, Workspace(cfg.data_dir).runs / RUN_ID, encoder_factory=lambda _: fake_encoder)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _profile(cfg, user: str, ts: pd.Timestamp) -> pd.Series:
    return feast_store.online_features(feast_store.open_store(cfg), [user], SERVICE, as_of=ts).iloc[0]


def _logged(cfg, table: str, key: str, value: str) -> int:
    rows = contract_rows(Workspace(cfg.data_dir).events / table)
    return 0 if rows is None else int((rows.to_pandas()[key] == value).sum())


def _retry_twice_counts_once(client, cfg, user: str, review_id: str, fail_first, replayed: list[bool]) -> None:
    """Send a review whose first attempt hits ``fail_first`` (a context manager), retry it twice,
    and check that the profile, the counts and the log include it exactly once."""
    ts = pd.Timestamp(AS_OF) + pd.Timedelta(days=2)
    body = {"user_id": user, "ts": ts.isoformat(), "review_id": review_id, "text": f"sturdy boots {review_id}",
            "rating": 4}
    before = _profile(cfg, user, ts)
    with fail_first():
        failed = client.post("/v1/events/review", json=body)
    answers = [client.post("/v1/events/review", json=body) for _ in range(2)]
    after = _profile(cfg, user, ts)
    n = int(before["review_count"])
    want = (np.asarray(before["review_embedding"], dtype=np.float64) * n + fake_vector(body["text"])) / (n + 1)
    assert after["review_count"] == n + 1
    np.testing.assert_allclose(np.asarray(after["review_embedding"]), want, atol=1e-6)  # weighted once
    assert after["reviews_365d"] == before["reviews_365d"] + 1
    assert _logged(cfg, "reviews", "review_id", review_id) == 1
    assert failed.status_code == 503 and failed.headers["Retry-After"] == "1"  # retryable, not a 500
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    assert [a.json()["replayed"] for a in answers] == replayed  # logged by the failed try or the first retry


def test_review_retry_after_the_log_append_fails_counts_once(client, cfg, monkeypatch):
    """Disk full on the log append: nothing may be pushed, and the retries count the event once."""
    import contextlib

    @contextlib.contextmanager
    def disk_full():
        def fail(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        with monkeypatch.context() as m:
            m.setattr(pd.DataFrame, "to_parquet", fail)
            yield

    _retry_twice_counts_once(client, cfg, "u11", "rv-disk-full", disk_full, [False, True])


def test_review_retry_after_a_push_times_out_once_applied_counts_once(client, cfg, monkeypatch):
    """The store applies the profile push but the call fails (a timeout after the write): the
    retries must not add the vector again."""
    import contextlib

    store = client.app.state.serve.events.store

    @contextlib.contextmanager
    def lost_reply():
        real = store.push

        def push(source, frame, **kw):
            real(source, frame, **kw)
            if source == "user_review_profile_push":
                raise sqlite3.OperationalError("database is locked (after the write)")
        with monkeypatch.context() as m:
            m.setattr(store, "push", push)
            yield

    _retry_twice_counts_once(client, cfg, "u12", "rv-lost-reply", lost_reply, [True, True])
