"""bench/cdnow.py scores the protocol's test set whatever cutoffs the run trained on."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.cdnow import check_cutoffs, protocol_rows


def _preds(days: list[str]) -> pd.DataFrame:
    ts = pd.to_datetime(days).tz_localize("UTC")
    return pd.DataFrame({"user_id": [f"u{i}" for i in range(len(days))], "event_timestamp": ts,
                         "purchasing_power_true": range(len(days))})


def test_only_the_calibration_end_rows_are_scored():
    rows = protocol_rows(_preds(["1997-08-31", "1997-09-30", "1997-07-31", "1997-09-30"]))
    assert rows["user_id"].tolist() == ["u1", "u3"]
    assert (rows["event_timestamp"] == pd.Timestamp("1997-09-30", tz="UTC")).all()


def test_a_run_without_the_calibration_end_is_a_clear_error():
    with pytest.raises(SystemExit, match="must include it"):
        protocol_rows(_preds(["1997-08-31"]))


def test_training_cutoffs_must_end_at_the_calibration_end():
    check_cutoffs("1997-06-30,1997-09-30")
    with pytest.raises(SystemExit, match="must end at the calibration end"):
        check_cutoffs("1997-09-30,1997-10-31")
    with pytest.raises(SystemExit, match="must end at the calibration end"):
        check_cutoffs("1997-08-31")
    with pytest.raises(SystemExit, match="not an ISO 8601"):
        check_cutoffs("1997-09-31x")


def test_both_published_protocol_references_score_every_customer():
    from bench.cdnow import REFERENCES, read_cdnow, reference_btyd
    from tests.support.real_data import shared_file

    log = read_cdnow(shared_file("cdnow/CDNOW_sample.txt"))
    refs = {name: reference_btyd(log, purchases) for name, purchases in REFERENCES.items()}
    for ref in refs.values():
        assert len(ref) == 2357 and ref.notna().all() and (ref >= 0).all()
    # Pareto/NBD lets a one-time buyer drop out; BG/NBD keeps them alive, so it expects more from them.
    one_time = log.groupby("customer")["ts"].nunique().reindex(refs["btyd_reference"].index) == 1
    assert (refs["pareto_nbd_reference"][one_time] < refs["btyd_reference"][one_time]).mean() > 0.9
