"""Benchmark: per-event latency of ``POST /v1/events/order`` against the size of the event log.

    .venv/bin/python bench/serve_events.py [--sizes 0,100000,1000000] [--events 200] [--json OUT]

For each size N the script builds the seeded synthetic serving workspace of the tests, fills the
order log with N logged events (one compacted part, as a long-running server leaves it; the
events belong to users outside the scored ones, so the timed users' own histories stay the same
size), starts the app in-process (FastAPI TestClient, SQLite online store, stand-in encoder) and
times ``--events`` order events for real users, one at a time. The log's segments plus
compaction keep the append O(1), so the per-event time must stay flat in N (it grew from 0.12 s
to 1.25 s at 300k events when the log was one Parquet file rewritten per event). Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine  # noqa: E402


def fill_log(events_dir: Path, n: int) -> None:
    """N logged order events in one compacted part, as the real log would hold them."""
    import numpy as np
    import pandas as pd

    from pipelines.storage.eventlog import DIGEST, SEQ
    from pipelines.storage.files import write_parquet

    if n == 0:
        return
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "order_id": pd.array([f"bench-{i}" for i in range(n)], dtype="string"),
        "user_id": pd.array([f"ghost{i % 5000:04d}" for i in range(n)], dtype="string"),
        "ts": pd.Timestamp("2025-06-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 200 * 86400, n), unit="s"),
        "amount": rng.gamma(2.0, 40.0, n).round(2), "status": pd.array(["completed"] * n, dtype="string"),
        "category": pd.array(["books"] * n, dtype="string"), "discount": np.zeros(n),
        SEQ: np.arange(1, n + 1), DIGEST: pd.array(["x"] * n, dtype="string"),
    })
    write_parquet(frame, events_dir / "orders" / "parts" / f"part-{1:012d}-{n:012d}.parquet")


def run_size(n: int, events: int) -> dict:
    """Build a workspace with an N-event log and time ``events`` order events."""
    import numpy as np
    import pandas as pd
    from fastapi.testclient import TestClient

    from pipelines.common.workspace import Workspace
    from pipelines.serve.app import create_app
    from tests.support.serve_data import AS_OF, RUN_ID, build_workspace, fake_encoder

    with tempfile.TemporaryDirectory(prefix="powertier-bench-events-") as tmp:
        cfg = build_workspace(Path(tmp) / "ws", n_users=40)
        ws = Workspace(cfg.data_dir)
        fill_log(ws.events, n)
        start = time.perf_counter()
        with TestClient(create_app(cfg, ws.runs / RUN_ID, encoder_factory=lambda _: fake_encoder)) as client:
            startup = time.perf_counter() - start
            users = [f"u{i:02d}" for i in range(2, 40)]
            times = []
            for k in range(events):
                body = {"user_id": users[k % len(users)], "order_id": f"timed-{k}", "amount": 10.0 + k,
                        "status": "completed", "ts": (pd.Timestamp(AS_OF) + pd.Timedelta(minutes=k + 1)).isoformat()}
                t0 = time.perf_counter()
                resp = client.post("/v1/events/order", json=body)
                times.append(time.perf_counter() - t0)
                if resp.status_code != 202:
                    raise RuntimeError(f"event {k}: {resp.status_code} {resp.text}")
        ms = np.asarray(times) * 1000
        return {"logged_events": n, "events": events, "startup_s": round(startup, 2),
                "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
                "max_ms": round(float(ms.max()), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="0,100000,1000000", help="Logged events before timing, comma-separated.")
    ap.add_argument("--events", type=int, default=200, help="Timed order events per size.")
    ap.add_argument("--json", type=Path, help="Also write the results as JSON here.")
    args = ap.parse_args()
    results = []
    for n in (int(x) for x in args.sizes.split(",")):
        res = run_size(n, args.events)
        print(json.dumps(res), file=sys.stderr, flush=True)
        results.append(res)
    print(f"Machine: {machine()}\n")
    print("| logged events | timed events | start-up s | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['logged_events']:,} | {r['events']} | {r['startup_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
