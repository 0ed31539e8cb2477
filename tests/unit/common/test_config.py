"""The one config: layering, unknown keys at any depth, resolution from the working directory."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.cli import app
from pipelines.common.config import load_config
from tests.support.cli_helpers import runner


def test_yaml_typo_at_any_depth_names_the_key(tmp_path):
    (tmp_path / "c.yaml").write_text("train:\n  trails: 3\n")
    with pytest.raises(ValidationError, match=r"train\.trails"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("encoder:\n  modle: x\n")
    with pytest.raises(ValidationError, match=r"encoder\.modle"):
        load_config(tmp_path / "c.yaml")


def test_env_typo_names_the_key(monkeypatch):
    monkeypatch.setenv("POWERTIER_TRAIN__TRAILS", "3")
    with pytest.raises(ValidationError, match=r"train\.trails"):
        load_config()


def test_cli_reports_a_typo_as_a_user_error(tmp_path):
    (tmp_path / "c.yaml").write_text("serve:\n  prot: 1\n")
    result = runner.invoke(app, ["config", "show", "--config", str(tmp_path / "c.yaml")])
    assert result.exit_code == 2 and "serve.prot" in result.output and "Traceback" not in result.output


def test_layers_cli_over_env_over_yaml(tmp_path, monkeypatch):
    (tmp_path / "c.yaml").write_text("train:\n  trials: 1\n  split: user\nseed: 5\n")
    monkeypatch.setenv("POWERTIER_TRAIN__TRIALS", "2")
    cfg = load_config(tmp_path / "c.yaml", train__trials=3)
    assert (cfg.train.trials, cfg.train.split, cfg.seed) == (3, "user", 5)
    assert load_config(tmp_path / "c.yaml").train.trials == 2


def test_config_and_data_dir_resolve_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("POWERTIER_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_config().data_dir == tmp_path / "data"
    (tmp_path / "powertier.yaml").write_text("data_dir: ws\nseed: 9\n")
    cfg = load_config()
    assert (cfg.data_dir, cfg.seed) == (tmp_path / "ws", 9)
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "p.yaml").write_text("data_dir: rel\n")
    assert load_config(other / "p.yaml").data_dir == other / "rel"  # relative to the file


def test_missing_config_file_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["config", "show", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.output
