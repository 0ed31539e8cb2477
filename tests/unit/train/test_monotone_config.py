"""``train.monotone_increasing`` from the config to the training parameters; a column that is not a
plain model input is one clear line before any fitting."""

from __future__ import annotations

import pytest

from pipelines.common.config import load_config
from pipelines.common.errors import UserError
from pipelines.train.job import check_monotone
from ranking.params import TrainParams


def test_config_reaches_params_and_a_typo_is_one_clear_line(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path), train__monotone_increasing=["spend_365d", "btyd_expected_spend"])
    assert TrainParams.from_config(cfg).monotone_increasing == ("spend_365d", "btyd_expected_spend")
    check_monotone(cfg, ["spend_365d", "review_embedding"])  # a feature and a BTYD output: fine
    bad = load_config(None, data_dir=str(tmp_path), train__monotone_increasing=["spend_356d", "review_embedding"])
    with pytest.raises(UserError, match=r"not model inputs: \['review_embedding', 'spend_356d'\]"):
        check_monotone(bad, ["spend_365d", "review_embedding"])
