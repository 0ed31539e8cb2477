"""The training report's decile calibration section: tables per model and the log-log SVG plot."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from pipelines.report.training import build_report, calibration_section
from ranking.metrics import calibration_deciles


def _predictions() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = np.where(rng.uniform(size=200) < 0.4, 0.0, rng.lognormal(4.0, 1.0, 200))
    return pd.DataFrame({"purchasing_power_true": y, "purchasing_power_pred": 0.5 * y + 5.0,
                         "purchasing_power_btyd": np.full(200, y.mean())})


def _section_html(html: str, anchor: str) -> str:
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', html, flags=re.S)
    assert found, f"no section {anchor}"
    return found.group(1)


def test_report_has_the_calibration_tables_and_a_log_log_plot_with_the_diagonal():
    pred = _predictions()
    y = pred["purchasing_power_true"].to_numpy()
    stored = {"lightgbm": calibration_deciles(y, pred["purchasing_power_pred"].to_numpy()),
              "btyd": calibration_deciles(y, pred["purchasing_power_btyd"].to_numpy())}
    metrics = {"main_feature_set": "XY", "purchasing_power": {"calibration_deciles": stored}}
    html = build_report(metrics, pred, {}, {"run_id": "r1", "tiers": []})
    body = _section_html(html, "purchasing-power-decile-calibration")
    assert "LightGBM, test split" in body and "BTYD (BG/NBD × Gamma-Gamma), test split" in body
    assert body.count("<tr>") == 2 * (1 + 10 + 1)  # per model: header, 10 deciles, overall
    overall = stored["lightgbm"]["overall"]["ratio"]
    assert f"<th class=\"text\">all</th><td>200</td>" in body and f"{overall:.3g}" in body
    svgs = re.findall(r'<svg [^>]*class="chart".*?</svg>', body, flags=re.S)
    assert len(svgs) == 1 and "Decile calibration (log1p axes)" in svgs[0]
    assert svgs[0].count("<polyline") == 2 and 'stroke-dasharray="4 3"' in svgs[0]  # two models + y = x
    assert "(log scale)" in svgs[0] and ">100</text>" in svgs[0]  # log money ticks 0, 1, 10, 100, ...


def test_old_runs_without_stored_tables_get_them_from_the_predictions():
    pred = _predictions()
    from_frame = calibration_section({}, pred)
    y = pred["purchasing_power_true"].to_numpy()
    stored = {"lightgbm": calibration_deciles(y, pred["purchasing_power_pred"].to_numpy()),
              "btyd": calibration_deciles(y, pred["purchasing_power_btyd"].to_numpy())}
    from_metrics = calibration_section({"purchasing_power": {"calibration_deciles": stored}}, pred)
    assert [t.rows for t in from_frame.tables] == [t.rows for t in from_metrics.tables]
    no_labels = calibration_section({}, pred.assign(purchasing_power_true=np.nan))
    assert no_labels.tables == [] and no_labels.charts == [] and "No purchasing-power labels" in no_labels.intro
