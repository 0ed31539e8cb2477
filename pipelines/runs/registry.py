"""Run management without I/O: headline numbers of a run, side-by-side comparison, and the
promotion history (who is serving, since when, what a rollback goes back to).

A run is described by its ``run.json`` and ``metrics.json`` documents; the promotion history is a
list of events ``{"action": "promote" | "rollback", "run_id", "at", "previous", "reason"}``,
oldest first."""

from __future__ import annotations

from typing import Any

# (label, path into metrics.json below the main feature set, higher is better)
HEADLINE = (("pp gini", ("purchasing_power", "lightgbm", "gini"), True),
            ("pp rmse", ("purchasing_power", "lightgbm", "rmse"), False),
            ("pp spearman", ("purchasing_power", "lightgbm", "spearman"), True),
            ("pp top10 share", ("purchasing_power", "lightgbm", "top10_share"), True),
            ("tier qwk", ("tier", "lightgbm", "qwk"), True),
            ("tier accuracy", ("tier", "lightgbm", "accuracy"), True),
            ("tier macro f1", ("tier", "lightgbm", "macro_f1"), True))
BASELINE = (("persistence pp gini", ("purchasing_power", "persistence", "gini")),
            ("BTYD pp gini", ("purchasing_power", "btyd", "gini")),
            ("persistence tier qwk", ("tier", "persistence", "qwk")))


def dig(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...`` or None where any level is missing."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The main LightGBM model's test metrics and the persistence baseline's, by label."""
    fs = metrics.get("main_feature_set", "XY")
    out = {label: dig(metrics, target, kind, fs, name) for label, (target, kind, name), _ in HEADLINE}
    out.update({label: dig(metrics, *path) for label, path in BASELINE})
    return out


def when(iso: Any) -> Any:
    """An ISO timestamp to the second, for tables (``2026-12-01 20:36:43``)."""
    return iso[:19].replace("T", " ") if isinstance(iso, str) else iso


def gate_passed(run: dict[str, Any]) -> bool | None:
    """The promotion gate's verdict recorded in ``run.json`` (``ranking.gate``; None: the run predates it)."""
    for key in ("verdict", "gate"):
        gate = run.get(key)
        if isinstance(gate, dict) and "passed" in gate:
            return bool(gate["passed"])
    return None


def gate_reasons(run: dict[str, Any]) -> list[str]:
    """Why the gate failed (empty when it passed or is absent)."""
    gate = run.get("verdict") or run.get("gate") or {}
    return list(gate.get("reasons", [])) if isinstance(gate, dict) else []


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """(label, value in A, value in B, which is better) for headline metrics and provenance."""
    ha, hb = headline(a["metrics"]), headline(b["metrics"])
    better = {label: up for label, _, up in HEADLINE}
    rows = []
    for label in ha:
        va, vb = ha[label], hb[label]
        verdict = ""
        if label in better and isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va != vb:
            verdict = "B" if (vb > va) == better[label] else "A"
        rows.append((label, va, vb, verdict))
    for label, key in (("feature set", ("run", "feature_set")), ("feature service", ("run", "feature_service")),
                       ("created", ("run", "created_at")), ("git commit", ("run", "git", "commit")),
                       ("data manifest", ("run", "data_manifest_sha256")),
                       ("test rows", ("run", "split", "rows", "test")), ("gate passed", ("run", "verdict", "passed"))):
        va, vb = dig(a, *key), dig(b, *key)
        if label in ("git commit", "data manifest"):  # hashes: a prefix tells them apart
            va, vb = (v[:12] if isinstance(v, str) else v for v in (va, vb))
        if label == "created":
            va, vb = (when(v) for v in (va, vb))
        rows.append((label, va, vb, "" if va == vb or label != "data manifest" else "differs"))
    return rows


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Leaf keys whose values differ between two configs (``data_dir`` and the like included)."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        sections = [v if isinstance(v, dict) else {} if v is None else None for v in (va, vb)]
        if None not in sections and (va is not None or vb is not None):  # a section (maybe one run's only)
            out += config_differences(sections[0], sections[1], f"{prefix}{key}.")
        elif va != vb:
            out.append((f"{prefix}{key}", va, vb))
    return out


def serving(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The event that made the current run the promoted one (None: nothing promoted yet)."""
    return history[-1] if history else None


def since(history: list[dict[str, Any]], run_id: str | None) -> dict[str, Any] | None:
    """The latest event that made ``run_id`` the serving run."""
    return next((e for e in reversed(history) if e["run_id"] == run_id), None)


def serving_line(run_id: str | None, history: list[dict[str, Any]]) -> str:
    """``serving: <run> (since <time>, <action>: <reason>)`` for ``runs list``."""
    if run_id is None:
        return "serving: nothing yet (train a run, or promote one)"
    event = since(history, run_id)
    if event is None:
        return f"serving: {run_id} (promoted before the promotion history was kept)"
    why = f": {event['reason']}" if event.get("reason") else ""
    return f"serving: {run_id} (since {event['at']}, {event['action']}{why})"


def rollback_target(history: list[dict[str, Any]]) -> str | None:
    """The run promoted before the current one: what ``rollback`` returns to."""
    current = serving(history)
    return None if current is None else current.get("previous")


def promotion_event(action: str, run_id: str, at: str, history: list[dict[str, Any]],
                    reason: str = "") -> dict[str, Any]:
    """A new history event; ``previous`` is what was serving before it."""
    current = serving(history)
    previous = None if current is None else current["run_id"]
    if action == "rollback":
        # After a rollback, rolling back again goes one step further back, not to the undone run.
        previous = _promoted_before(history, run_id)
    return {"action": action, "run_id": run_id, "at": at, "previous": previous, "reason": reason}


def _promoted_before(history: list[dict[str, Any]], run_id: str) -> str | None:
    """``previous`` of the latest event that made ``run_id`` the serving run."""
    for event in reversed(history):
        if event["run_id"] == run_id:
            return event.get("previous")
    return None
