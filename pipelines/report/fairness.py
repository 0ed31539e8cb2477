"""The fairness section of the training and backtest reports (from :mod:`ranking.fairness` output)."""

from __future__ import annotations

from typing import Any

from pipelines.report.page import Section, Table, count, money, num

LABELS = {"relative_mae": "relative spend error", "error_rate": "tier error rate",
          "calibration_error": "tier calibration error", "calibration": "spend calibration ratio"}
HEADERS = ["value", "rows", "mean actual", "mean predicted", "calibration (pred / actual)", "relative MAE",
           "tier rows", "tier error rate", "tier calibration error"]


def _row(value: str, r: dict[str, Any], compared: bool) -> list[str]:
    label = value if compared else f"{value} (too few rows to compare)"
    return [label, count(r.get("n")), money(r.get("mean_true")), money(r.get("mean_pred")),
            num(r.get("calibration"), 3), num(r.get("relative_mae"), 3), count(r.get("n_tier")),
            num(r.get("error_rate"), 3), num(r.get("calibration_error"), 3)]


def flags(fair: dict[str, Any], prefix: str = "") -> list[str]:
    """One sentence per flagged (segment column, metric)."""
    out = []
    for col, c in fair.get("columns", {}).items():
        for name in c["flagged"]:
            out.append(f"{prefix}{col}: {LABELS.get(name, name)} differs {c['disparity'][name]:.2f}× between "
                       f"its best and worst value (limit {fair['ratio']:.2f}×)")
    return out


def fairness_section(fair: dict[str, Any] | None, title: str = "Fairness by segment",
                     extra_flags: list[str] | None = None, population: str = "the test rows") -> Section | None:
    """Calibration and error per segment value, one table per segment column, with disparity flags."""
    if not fair or not fair.get("columns"):
        return None
    tables = [Table(HEADERS, [_row(v, r, v in c["compared"]) for v, r in c["values"].items()], col)
              for col, c in fair["columns"].items()]
    intro = (f"Main LightGBM model on {population}. A segment column is flagged when an error metric (or the "
             f"spend calibration ratio) differs by more than {fair['ratio']:.2f}× between its best and worst "
             f"value among values with at least {count(fair['min_rows'])} rows.")
    found = (extra_flags if extra_flags is not None else flags(fair))
    return Section(title, intro, tables, flags=found or [], notes=[] if found else ["No disparity past the limit."])
