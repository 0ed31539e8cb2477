"""Benchmark: latency of ``POST /v1/predict`` under fixed request rates, SQLite vs Redis online
store, with a plain ``feast serve`` lookup of the same feature service as the baseline.

    .venv/bin/python bench/serve_load.py [--workspace DIR | --synthetic] [--rates 50,100,200]
        [--duration 30] [--stores sqlite,redis] [--sizes 1,32] [--targets powertier,feast] [--workers 1]
        [--quick] [--json OUT]

For each online store the script builds a fresh workspace (a copy of ``--workspace``'s curated
data, feature tables and latest run, applied and materialized anew; or the seeded synthetic
workspace of the tests with 384-dim vectors), starts ``powertier serve`` and ``feast serve`` on
free loopback ports (and a ``redis-server``), then sends open-loop load: requests leave on a fixed
schedule whatever the responses do, at most ``--max-in-flight`` outstanding (a request that would
exceed it counts as an error). Single-user and 32-user requests, one async httpx client, latency
from send to full response; the server-side handler time comes from powertier's access log.
``feast serve`` runs with ``--max-requests 0``: its default recycles the worker every ~1000
requests, and the re-import of Feast stalls a single worker for seconds. The client freezes its own
heap for each load (``gc.freeze``) and reports its longest GC pause, so a pause of the load
generator is not mistaken for one of the server. Prints a Markdown table.
Goal: single-user p99 <= 20 ms at 100 req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine  # noqa: E402

BIN = Path(sys.executable).parent
SERVICE = "purchasing_power_v3"
STOP = threading.Event()  # set by SIGINT/SIGTERM: finish the current request, stop the servers, exit


@dataclass
class Result:
    store: str
    target: str
    users_per_request: int
    rate: int
    sent: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    achieved_rps: float
    server_p50_ms: float | None = None  # handler time from powertier's access log (no client, no queueing
    server_p99_ms: float | None = None  # in the kernel): separates server cost from client/CPU contention
    server_max_ms: float | None = None  # the slowest handler time: a stalled loop shows here
    client_gc_max_ms: float | None = None  # longest cyclic-GC pause of the client during the load


def _env(data_dir: Path, store: str, redis_url: str | None) -> dict[str, str]:
    env = {**os.environ, "POWERTIER_DATA_DIR": str(data_dir), "POWERTIER_ONLINE_STORE": store,
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("POWERTIER_API_KEY", None)
    if redis_url:
        env["POWERTIER_REDIS_URL"] = redis_url  # `powertier features apply` wrote its host into feature_store.yaml
    return env


def prepare_workspace(dest: Path, store: str, source: Path | None, run: Path | None = None) -> list[str]:
    """A served workspace at ``dest`` for ``store`` (serving ``run``, default the source's
    promoted run); returns user ids that have features."""
    import pandas as pd

    from pipelines.storage import feast_store
    from pipelines.common.config import load_config
    from pipelines.common.workspace import Workspace

    if source is None:
        from tests.support.serve_data import build_workspace

        cfg = build_workspace(dest, online_store=store, dim=384, n_users=200)
    else:
        src, ws = Workspace(source), Workspace(dest)
        for part in (src.curated, src.features):
            shutil.copytree(part, dest / part.name)
        run = (run or src.runs / "latest").resolve()
        if not (run / "model.json").is_file():
            raise SystemExit(f"no run to serve at {run} (promote one, or pass --run DIR)")
        shutil.copytree(run, ws.runs / run.name)
        (ws.runs / "latest").symlink_to(ws.runs / run.name)
        cfg = load_config(data_dir=dest, online_store=store)
        store_obj = feast_store.open_store(cfg)
        feast_store.apply(store_obj, cfg)
        users = pd.read_parquet(ws.curated_table("users"))
        end = cfg.as_of or pd.read_parquet(ws.curated_table("orders"), columns=["ts"])["ts"].max().to_pydatetime()
        feast_store.materialize(store_obj, cfg, end=max(end, users["signup_ts"].max().to_pydatetime()))
    return pd.read_parquet(Workspace(cfg.data_dir).curated_table("users"))["user_id"].astype(str).tolist()


def body_for(target: str, users: list[str], reasons: bool = True) -> dict:
    if target == "powertier":
        return {"user_ids": users} if reasons else {"user_ids": users, "reasons": False}
    return {"feature_service": SERVICE, "entities": {"user_id": users, "as_of_ts_s": [time.time()] * len(users)}}


@contextlib.contextmanager
def frozen_client_heap():
    """Freeze the client's heap for the load and record its GC pauses (yields the list of ms).

    Preparing the workspace leaves Feast, pandas and materialize's objects in this process (~360k
    tracked); a full collection over them takes ~0.2 s of CPU, during which requests would leave
    late, in a burst, and the server would look as if it had stalled. Two loaded runs without the
    freeze saw no such collection (longest pause 14 and 17 ms): it guards, it did not explain the
    354 ms p99 of the quiet run; ``client_gc_max_ms`` and ``server_max_ms`` tell them apart."""
    pauses: list[float] = []
    started = [0.0]

    def record(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((time.perf_counter() - started[0]) * 1000)

    gc.collect()
    gc.freeze()
    gc.callbacks.append(record)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(record)
        gc.unfreeze()


async def load(url: str, target: str, pool: list[str], per_request: int, rate: int, duration: float,
               max_in_flight: int, seed: int, reasons: bool = True) -> tuple[list[float], int, int, float, float]:
    """Open-loop load: ``rate`` requests/s for ``duration`` s; returns latencies, errors, sent,
    seconds and the client's longest GC pause (ms)."""
    import httpx
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(rate * duration)
    latencies: list[float] = []
    errors = 0
    in_flight = 0
    limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
    with frozen_client_heap() as pauses:
        async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:

            async def one(body: dict) -> None:
                nonlocal errors, in_flight
                start = time.perf_counter()
                try:
                    resp = await client.post(url, json=body)
                    ok = resp.status_code == 200
                except httpx.HTTPError:
                    ok = False
                in_flight -= 1
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1

            loop = asyncio.get_running_loop()
            t0 = loop.time()
            tasks = []
            for i in range(n):
                await asyncio.sleep(max(0.0, t0 + i / rate - loop.time()))
                if STOP.is_set():
                    break
                if in_flight >= max_in_flight:
                    errors += 1
                    continue
                in_flight += 1
                users = list(rng.choice(pool, per_request, replace=per_request > len(pool)))
                tasks.append(asyncio.create_task(one(body_for(target, users, reasons))))
            await asyncio.gather(*tasks)
            elapsed = loop.time() - t0
    return latencies, errors, n, elapsed, round(max(pauses, default=0.0), 2)


def summarise(store: str, target: str, per: int, rate: int, lat: list[float], errors: int, sent: int,
              seconds: float) -> Result:
    import numpy as np

    ms = np.asarray(lat) * 1000 if lat else np.asarray([float("nan")])
    p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
    return Result(store, target, per, rate, sent, errors, round(p50, 2), round(p95, 2), round(p99, 2),
                  round(len(lat) / seconds, 1))


def bench_store(store: str, ws: Path, users: list[str], args, redis_url: str | None, work: Path) -> list[Result]:
    """Both servers for one online store, every rate and request size."""
    from pipelines.storage import feast_store
    from pipelines.common.config import load_config
    from tests.support.serve_data import free_port, running_server

    server = functools.partial(running_server, timeout=300.0)  # cold starts load Feast and the model

    env = _env(ws, store, redis_url)
    os.environ.update({k: v for k, v in env.items() if k.startswith("POWERTIER_REDIS")})
    feast_store.write_repo_yaml(load_config(data_dir=ws, online_store=store))
    p1, p2 = free_port(), free_port()
    results = []
    serve_cmd = [str(BIN / "powertier"), "serve", "--port", str(p1), "--workers", str(args.workers)]
    serve_log = work / f"serve-{store}.log"
    feast_cmd = [str(BIN / "feast"), "-c", str(ws / "feast"), "serve", "-h", "127.0.0.1", "-p", str(p2),
                 "--no-access-log", "--max-requests", "0"]
    with server(serve_cmd, env, f"http://127.0.0.1:{p1}/readyz", serve_log), \
         (server(feast_cmd, env, f"http://127.0.0.1:{p2}/health", work / f"feast-{store}.log")
          if "feast" in args.targets else contextlib.nullcontext()):
        targets = {"powertier": f"http://127.0.0.1:{p1}/v1/predict",
                   "feast serve": f"http://127.0.0.1:{p2}/get-online-features"}
        for target, url in targets.items():
            if target.split()[0] not in args.targets:
                continue
            asyncio.run(load(url, target, users, 1, 50, min(2.0, args.duration), args.max_in_flight, 0))  # warm-up
            for per in args.sizes:
                for rate in args.rates:
                    if STOP.is_set():
                        return results
                    offset = serve_log.stat().st_size
                    lat, err, sent, secs, gc_ms = asyncio.run(load(url, target, users, per, rate, args.duration,
                                                                   args.max_in_flight, rate, not args.no_reasons))
                    res = summarise(store, target, per, rate, lat, err, sent, secs)
                    res.client_gc_max_ms = gc_ms
                    if target == "powertier":
                        res.server_p50_ms, res.server_p99_ms, res.server_max_ms = server_times(serve_log, offset)
                    print(json.dumps(asdict(res)), file=sys.stderr, flush=True)
                    results.append(res)
    return results


def server_times(log: Path, offset: int) -> tuple[float | None, float | None, float | None]:
    """p50/p99/max of the /v1/predict handler times logged since ``offset`` (JSON access-log lines)."""
    import numpy as np

    with open(log, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode("utf-8", errors="replace").splitlines()
    ms = []
    for line in lines:
        with contextlib.suppress(ValueError):
            rec = json.loads(line)
            if rec.get("route") == "/v1/predict" and rec.get("status") == 200:
                ms.append(rec["ms"])
    if not ms:
        return None, None, None
    return round(float(np.percentile(ms, 50)), 2), round(float(np.percentile(ms, 99)), 2), round(max(ms), 2)


def table(results: list[Result]) -> str:
    head = ("| online store | server | users/request | target req/s | sent | errors | p50 ms | p95 ms | p99 ms "
            "| achieved req/s | server p50 / p99 / max ms | client GC max ms |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [f"| {r.store} | {r.target} | {r.users_per_request} | {r.rate} | {r.sent} | {r.errors} | {r.p50_ms} "
            f"| {r.p95_ms} | {r.p99_ms} | {r.achieved_rps} | "
            f"{'-' if r.server_p50_ms is None else f'{r.server_p50_ms} / {r.server_p99_ms} / {r.server_max_ms}'} "
            f"| {r.client_gc_max_ms} |"
            for r in results]
    return "\n".join([head, *rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--workspace", type=Path, help="Workspace with curated/, features/ and runs/latest.")
    ap.add_argument("--run", type=Path, help="With --workspace: the run dir to serve (default runs/latest).")
    src.add_argument("--synthetic", action="store_true", help="Seeded synthetic workspace (the default).")
    ap.add_argument("--rates", default="50,100,200", help="Comma-separated request rates (req/s).")
    ap.add_argument("--duration", type=float, default=30.0, help="Seconds per rate and request size.")
    ap.add_argument("--stores", default="sqlite,redis", help="Online stores to compare.")
    ap.add_argument("--sizes", default="1,32", help="Users per request, comma-separated.")
    ap.add_argument("--targets", default="powertier,feast", help="Servers to load: powertier, feast (feast serve).")
    ap.add_argument("--workers", type=int, default=1, help="powertier serve --workers.")
    ap.add_argument("--max-in-flight", type=int, default=64, help="Client-side bound on outstanding requests.")
    ap.add_argument("--no-reasons", action="store_true",
                    help='powertier requests ask for no explanations ("reasons": false): the answers without TreeSHAP.')
    ap.add_argument("--quick", action="store_true", help="Rates 50,100 for 3 s each (a smoke run).")
    ap.add_argument("--json", type=Path, help="Also write the results as JSON here.")
    args = ap.parse_args()
    if args.quick:
        args.rates, args.duration = "50,100", 3.0
    args.rates = [int(r) for r in args.rates.split(",")]
    args.sizes = [int(n) for n in args.sizes.split(",")]
    args.targets = args.targets.split(",")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: STOP.set())
    results = run(args)
    print(f"\n{machine()}; load average before the run {args.load_before}; {args.duration:g} s per cell; "
          f"powertier serve --workers {args.workers}{'; reasons: false' if args.no_reasons else ''}; source: {args.workspace or 'synthetic (384-dim vectors)'}\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


def run(args) -> list[Result]:
    from tests.support.redis_server import RedisServer

    args.load_before = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results = []
    with tempfile.TemporaryDirectory(prefix="powertier-serve-bench-") as tmp:
        work = Path(tmp)
        redis = RedisServer(work / "redis").start() if "redis" in args.stores else None
        try:
            for store in args.stores.split(","):
                url = redis.url if store == "redis" else None
                if url:
                    os.environ["POWERTIER_REDIS_URL"] = url
                if STOP.is_set():
                    break
                users = prepare_workspace(work / f"ws-{store}", store, args.workspace, args.run)
                results += bench_store(store, work / f"ws-{store}", users, args, url, work)
        finally:
            if redis:
                redis.stop()
    return results


if __name__ == "__main__":
    main()
