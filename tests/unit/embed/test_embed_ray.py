"""The embedding job on a Ray Data actor pool (``engine: ray``) writes exactly what the local job
writes: the same content-addressed cache parts and the same profile tables, byte for byte, and a
run killed part-way resumes to that same result. Real local cluster, real MiniLM model."""

from __future__ import annotations

import pytest

from pipelines.embed import job as embed_job
from pipelines.embed.job import run_embed
from tests.support.embed_data import config, file_bytes, real_model, write_curated
from tests.support.ray_cluster import OBJECT_STORE_MB, RAY_CPUS

MODEL = "all-MiniLM-L6-v2"


def _ray(path, **overrides):
    return config(path, encoder__precision="fp32", engine="ray", ray__num_cpus=RAY_CPUS,
                  ray__object_store_mb=OBJECT_STORE_MB, ray__encoder_actors=2, **overrides)


def _outputs(ws) -> dict[str, bytes]:
    return file_bytes(ws.features) | file_bytes(embed_job.cache_dir(ws, MODEL))


@pytest.fixture(scope="module")
def local_result(tmp_path_factory):
    """The local job's files, chunks of 2 texts (several parts per kind)."""
    mp = pytest.MonkeyPatch()
    mp.setattr(embed_job, "CHUNK_SIZE", 2)
    root = tmp_path_factory.mktemp("local")
    ws = write_curated(root)
    run_embed(config(root, encoder__precision="fp32"), model=real_model())
    mp.undo()
    return _outputs(ws)


def test_actor_pool_writes_the_local_parts_and_profiles(ray_cluster, local_result, tmp_path, monkeypatch):
    monkeypatch.setattr(embed_job, "CHUNK_SIZE", 2)
    ws = write_curated(tmp_path)
    m = run_embed(_ray(tmp_path))
    assert m["device"] == "ray (2 actors, cpu)" and m["precision"] == "fp32" and m["encoded"] == 8
    assert _outputs(ws) == local_result  # bit-identical vectors, same part files, same profiles


def test_killed_ray_run_resumes_to_the_same_result(ray_cluster, local_result, tmp_path, monkeypatch):
    monkeypatch.setattr(embed_job, "CHUNK_SIZE", 2)
    ws = write_curated(tmp_path)
    real_write, calls = embed_job.write_part, []

    def dying_write(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while the third chunk comes back
        calls.append(real_write(*args))
        return calls[-1]

    monkeypatch.setattr(embed_job, "write_part", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_embed(_ray(tmp_path))
    monkeypatch.setattr(embed_job, "write_part", real_write)
    assert len(list(embed_job.cache_dir(ws, MODEL).glob("part-*.parquet"))) == 2
    m = run_embed(_ray(tmp_path))
    assert (m["encoded"], m["cache_hits"]) == (4, 4)
    assert _outputs(ws) == local_result
