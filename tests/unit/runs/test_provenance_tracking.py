"""run.json provenance, and the optional MLflow tracking against a local store under the data dir."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from pipelines.common.config import load_config
from pipelines.common.workspace import Workspace
from pipelines.runs import job, tracking
from pipelines.train.job import run_training
from ranking.synthetic import synthetic_frame

REPO = Path(__file__).resolve().parents[3]


def test_provenance_records_commit_manifest_hash_and_libraries(tmp_path):
    ws = Workspace(tmp_path)
    ws.curated.mkdir(parents=True)
    (ws.curated / "manifest.json").write_text('{"rows_in": 3}\n')
    prov = job.provenance(ws)
    assert prov["data_manifest_sha256"] == hashlib.sha256(b'{"rows_in": 3}\n').hexdigest()
    assert prov["libraries"]["lightgbm"] and prov["libraries"]["numpy"] and prov["libraries"]["torch"]
    if (REPO / ".git").exists():  # a checkout (CI, developers); a wheel install records None
        assert re.fullmatch(r"[0-9a-f]{40}", prov["git"]["commit"]) and isinstance(prov["git"]["dirty"], bool)
    assert job.git_state(tmp_path) == {"commit": None, "dirty": None}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ws")
    cfg = load_config(None, data_dir=str(tmp), tracking="mlflow", train__trials=1, train__num_boost_round=20,
                      train__early_stopping_rounds=5, train__projection_dims=4)
    run_dir = tmp / "runs" / "r1"
    run_training(synthetic_frame(n_users=120, n_cutoffs=5, dim=8, seed=3), cfg, run_dir,
                 feature_service="powertier_v1", provenance=job.provenance(Workspace(tmp)))
    return cfg, run_dir


def test_run_json_names_the_feature_service_and_provenance(trained):
    _, run_dir = trained
    run = json.loads((run_dir / "run.json").read_text())
    assert run["feature_service"] == "powertier_v1"
    assert {"git", "data_manifest_sha256", "libraries"} <= set(run)


@pytest.mark.slow
def test_mlflow_tracking_logs_params_metrics_and_the_run_dir(trained):
    from mlflow.tracking import MlflowClient

    cfg, run_dir = trained
    mlflow_id = job.track(cfg, run_dir)
    assert (cfg.data_dir / "mlflow" / "mlflow.db").exists()  # the store lives inside the workspace
    client = MlflowClient(tracking_uri=tracking.store_uri(cfg.data_dir))
    got = client.get_run(mlflow_id)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    fs = metrics["main_feature_set"]
    assert got.data.metrics["pp_gini"] == pytest.approx(metrics["purchasing_power"]["lightgbm"][fs]["gini"])
    assert got.data.params["train.trials"] == "1" and got.data.params["tracking"] == "mlflow"
    assert got.data.tags["powertier.feature_service"] == "powertier_v1"
    artifacts = {a.path for a in client.list_artifacts(mlflow_id)}
    assert {"run.json", "metrics.json", "report.html", "boosters"} <= artifacts
    assert str(cfg.data_dir) in got.info.artifact_uri
