"""The engine switch: local by default, ray with its settings, the Feast store config it generates
and the line ``config show`` prints. No cluster needed."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.config import load_config
from pipelines.common.ray_engine import describe_engine, init_kwargs, map_tasks
from pipelines.storage import feast_store


def test_local_is_the_default_and_generates_no_ray_store(tmp_path):
    cfg = load_config(data_dir=tmp_path)
    assert cfg.engine == "local" and cfg.ray.address == ""
    settings = feast_store.store_settings(cfg)
    assert settings["offline_store"] == {"type": "duckdb"} and "batch_engine" not in settings
    assert map_tasks(cfg, lambda x, k: x * k, [1, 2, 3], 10) == [10, 20, 30]  # in process, in order


def test_ray_engine_generates_feasts_ray_store_and_engine_in_one_place(tmp_path):
    cfg = load_config(data_dir=tmp_path, engine="ray", ray__address="ray://head:10001")
    settings = feast_store.store_settings(cfg)
    assert settings["offline_store"]["type"] == "ray" and settings["batch_engine"]["type"] == "ray.engine"
    assert settings["offline_store"]["ray_address"] == settings["batch_engine"]["ray_address"] == "ray://head:10001"
    assert settings["batch_engine"]["write_concurrency"] == 1  # SQLite takes one writer
    written = yaml.safe_load(feast_store.write_repo_yaml(cfg).read_text())
    assert written["offline_store"] == settings["offline_store"] and written["batch_engine"] == settings["batch_engine"]


def test_local_cluster_is_small_quiet_and_on_loopback(tmp_path):
    local = init_kwargs(load_config(data_dir=tmp_path, engine="ray", ray__num_cpus=2, ray__object_store_mb=128))
    assert (local["num_cpus"], local["object_store_memory"], local["include_dashboard"]) == (2, 128 * 2**20, False)
    assert local["_node_ip_address"] == "127.0.0.1" and "address" not in local
    joined = init_kwargs(load_config(data_dir=tmp_path, engine="ray", ray__address="auto"))
    assert joined["address"] == "auto" and "num_cpus" not in joined


def test_unknown_ray_settings_and_engines_are_rejected(tmp_path):
    with pytest.raises(ValidationError):
        load_config(data_dir=tmp_path, engine="spark")
    with pytest.raises(ValidationError):
        load_config(data_dir=tmp_path, ray__adress="auto")


def test_config_show_explains_the_engine(tmp_path):
    (tmp_path / "c.yaml").write_text("engine: ray\nray:\n  encoder_actors: 3\n")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output
    assert '"engine": "ray"' in result.output and "encoder actors: 3" in result.output
    assert "engine: local" in describe_engine(load_config(data_dir=tmp_path))
