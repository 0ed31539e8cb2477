"""Every report page as a person sees it: rendered by headless Chromium (Debian's ``chromium``),
screenshotted, and each chart's plot area checked for drawn data. An empty chart (axes, title and
legend but no bars, lines or cells) fails.

The charts of a page are laid out on a fixed grid (one cell per chart), so one screenshot checks
them all and a failing chart is named by its title."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.report import svg

pytestmark = pytest.mark.slow

CELL_W, CELL_H, PER_ROW = svg.W, 340, 3
# The plot area inside each chart (the legend to the right of it is coloured even without data).
PLOT = (svg.LEFT + 1, svg.TOP, svg.W - svg.RIGHT, svg.H - svg.BOTTOM)
MIN_DATA_PIXELS = 40
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1")


def chromium() -> str:
    """The browser binary, or a failure that says how to install it (CI installs it in .ci/run)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("headless Chromium is not installed: run `apt-get install -y chromium` "
                    "(Debian's package; .ci/run installs it)")
    return path


def screenshot(html: str, out: Path, width: int, height: int) -> np.ndarray:
    """Render ``html`` in headless Chromium; the screenshot as an RGB array."""
    from PIL import Image

    page = out.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(out).convert("RGB"))


def chart_svgs(html: str) -> list[str]:
    return re.findall(r'<svg [^>]*class="chart".*?</svg>', html, flags=re.S)


def grid_page(charts: list[str]) -> str:
    """The charts at fixed positions: chart i at column i % PER_ROW, row i // PER_ROW."""
    cells = "".join(f'<div style="position:absolute;left:{(i % PER_ROW) * CELL_W}px;top:{(i // PER_ROW) * CELL_H}px">'
                    f"{c}</div>" for i, c in enumerate(charts))
    return f"<!DOCTYPE html><html><body style='margin:0;background:#fff'>{cells}</body></html>"


def data_pixels(image: np.ndarray, i: int) -> int:
    """Coloured (not grey, black or white) pixels in chart i's plot area: the drawn data."""
    x0, y0 = (i % PER_ROW) * CELL_W, (i // PER_ROW) * CELL_H
    left, top, right, bottom = PLOT
    region = image[y0 + top:y0 + bottom, x0 + left:x0 + right].astype(int)
    saturation = region.max(axis=2) - region.min(axis=2)
    return int((saturation > 40).sum())


def blank_charts(html: str, out: Path) -> tuple[list[str], int]:
    """Titles of the charts of ``html`` whose plot area is blank on screen, and the chart count."""
    charts = chart_svgs(html)
    rows = (len(charts) + PER_ROW - 1) // PER_ROW
    image = screenshot(grid_page(charts), out, CELL_W * PER_ROW, CELL_H * max(rows, 1))
    titles = [re.search(r"<title>([^<]*)</title>", c).group(1) for c in charts]
    return [t for i, t in enumerate(titles) if data_pixels(image, i) < MIN_DATA_PIXELS], len(charts)


def test_the_check_fails_on_an_empty_chart(tmp_path):
    full = svg.bar_chart("full", ["a", "b"], {"m": [1.0, 2.0]}, "y")
    empty = svg.bar_chart("empty", ["a", "b"], {"m": [None, None]}, "y")
    flat = svg.line_chart("no lines", {"m": ([], [])}, "x", "y")
    blank, n = blank_charts(f"<html><body>{full}{empty}{flat}</body></html>", tmp_path / "control.png")
    assert n == 3 and blank == ["empty", "no lines"]


def test_training_report_renders_every_chart(tmp_path):
    from pipelines.common.config import load_config
    from pipelines.train.job import run_training
    from ranking.synthetic import synthetic_frame

    cfg = load_config(None, data_dir=str(tmp_path), train__trials=1, train__num_boost_round=30,
                      train__early_stopping_rounds=5, train__projection_dims=4)
    run_training(synthetic_frame(n_users=150, n_cutoffs=6, dim=8, seed=21), cfg, tmp_path / "runs" / "r1")
    html = (tmp_path / "runs" / "r1" / "report.html").read_text()
    blank, n = blank_charts(html, tmp_path / "training.png")
    assert n >= 12 and blank == []
    # The page itself shows charts: tall enough to pass the notes and tables above the first chart
    # (about 2,000 px down since the spend model's selection notes and calibration tables).
    page = screenshot(html, tmp_path / "page.png", 1280, 6000)
    assert (page.max(axis=2) - page.min(axis=2) > 40).sum() > 10_000


def test_backtest_report_renders_every_chart(tmp_path):
    from pipelines.report.backtest import build_backtest_report

    cutoffs = pd.to_datetime(["2025-12-01", "2025-12-31", "2026-01-30"], utc=True)
    results = pd.DataFrame([{"cutoff": c, "target": t, "model": m, "metric": k, "value": v}
                            for c in cutoffs for m in ("lightgbm", "persistence")
                            for t, k, v in (("purchasing_power", "gini", 0.6), ("purchasing_power", "rmse", 80.0),
                                            ("purchasing_power", "spearman", 0.5),
                                            ("purchasing_power", "top10_share", 0.4), ("tier", "qwk", 0.7),
                                            ("tier", "macro_f1", 0.5), ("tier", "accuracy", 0.6),
                                            ("tier", "auc_ovr", 0.8))])
    summary = pd.DataFrame({"cutoff": [c.isoformat() for c in cutoffs], "n_train": [900, 1200, 1500],
                            "n_train_users": [300, 400, 500], "n_scored": [400, 500, 600],
                            "max_feature_psi": [0.05, 0.1, 0.13], "max_feature": ["spend_30d"] * 3,
                            "prediction_psi": [0.02, 0.04, 0.3], "flagged_features": [[], ["tenure_days"], []],
                            "retrain": [[], [], ["prediction PSI 0.3 > 0.2"]]})
    drift = pd.DataFrame({"cutoff": np.repeat(cutoffs, 2), "kind": ["feature", "prediction"] * 3,
                          "column": ["tenure_days", "purchasing_power_pred"] * 3,
                          "psi": [0.5, 0.02, 2.08, 0.04, 0.9, 0.3]})
    html = build_backtest_report(results, summary, drift, {"id": "bt-1", "psi_threshold": 0.2,
                                                           "ageing_inputs": ["tenure_days"]})
    blank, n = blank_charts(html, tmp_path / "backtest.png")
    assert n >= 10 and blank == []
    assert "grow with the calendar" in html and "2025-12-31" in html
