"""finetune -> embed --model <fine-tuned dir> -> train through the real CLI on tiny data, and the
backtest's refusal of an encoder fine-tuned on labels that end after its cutoffs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.cli import app
from pipelines.finetune.ablation import keys_digest
from tests.support.cli_helpers import cli_ok as _ok, generated_raw, runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory) -> Path:
    """A smaller shop than the shared one: the fine-tune's CPU time grows with the texts."""
    return generated_raw(tmp_path_factory, users=120, days=400, seed=5)


@pytest.fixture
def small(monkeypatch):
    """MiniLM keeps the CPU test short; the fine-tuning code is the same for e5-small (BERT)."""
    for key, value in {"ENCODER__MODEL": "all-MiniLM-L6-v2", "TRAIN__TRIALS": "1", "FINETUNE__MAX_TEXTS": "32",
                       "FINETUNE__MAX_TOKENS": "32", "FINETUNE__MAX_EPOCHS": "1", "FINETUNE__TRIALS": "2"}.items():
        monkeypatch.setenv(f"POWERTIER_{key}", value)


def test_finetune_embed_train_and_backtest_leak_guard(raw_dir, data_dir, small):
    _ok("pipeline", "--raw", str(raw_dir))
    base = json.loads((data_dir / "embeddings" / "embed_manifest.json").read_text())
    out = _ok("finetune", "--label", "log_pp")
    model_dir = Path(out.strip().splitlines()[-1])
    provenance = json.loads((model_dir / "powertier_model.json").read_text())
    assert provenance["base_model"] == "all-MiniLM-L6-v2" and provenance["label"] == "log_pp"
    assert provenance["model_id"].startswith("ft-") and provenance["examples"]["train_texts"] == 32
    assert set(provenance["valid"]["probe"]) == {"none", "frozen", "fine_tuned"}
    assert len(provenance["search"]["trials"]) == 2
    assert "none" in out and "fine-tuned" in out

    # The encoder ablation went into the pipeline's run: same split, labels bounded by its training end.
    (run_dir,) = [p for p in (data_dir / "runs").iterdir() if not p.is_symlink() and (p / "model.json").exists()]
    split = json.loads((run_dir / "run.json").read_text())["split"]
    assert pd.Timestamp(provenance["label_end"]) == pd.Timestamp(split["first_test_cutoff"])
    ablation = json.loads((run_dir / "finetune" / "ablation.json").read_text())
    assert ablation["fine_tuned"]["model_id"] == provenance["model_id"]
    test_keys = keys_digest(pd.read_parquet(run_dir / "predictions.parquet"))
    assert {r["test_keys"] for r in ablation["rows"].values()} == {test_keys}
    assert {r["test_rows"] for r in ablation["rows"].values()} == {split["rows"]["test"]}
    html = (run_dir / "report.html").read_text()
    assert "Encoder ablation: none / frozen / fine-tuned" in html and "fine-tuned (X from the fine-tuned" in html
    assert "encoder ablation on run" in out and "frozen (base encoder X)" in out

    _ok("embed", "--model", str(model_dir))
    tuned = json.loads((data_dir / "embeddings" / "embed_manifest.json").read_text())
    # the cache identity: the content id, plus "@bf16" where bf16 is the CPU's default precision
    assert tuned["model"].split("@")[0] == provenance["model_id"] and tuned["cache_dir"] != base["cache_dir"]
    assert tuned["encoder_label_end"] == provenance["label_end"]
    # A second fine-tuned copy with other weights would get another id: the id is the weights' hash.
    run = Path(_ok("train", "--trials", "1").strip().splitlines()[-1])
    assert json.loads((run / "features.json").read_text())["encoder"]["id"].split("@")[0] == provenance["model_id"]

    # Its labels end at the data's as-of, after every backtest cutoff: refused, exit 2, clear message.
    result = runner.invoke(app, ["backtest", "--start", "2025-09-01", "--end", "2025-10-01", "--every", "30d"])
    assert result.exit_code == 2, result.output
    assert "fine-tuned on labels" in result.output
    assert pd.Timestamp(provenance["label_end"]) > pd.Timestamp("2025-09-01", tz="UTC")
