"""``engine: ray`` embeds exactly like ``engine: local``: the Ray Data actor pool writes the same
cache parts (bit-identical vectors) and the same profile tables, and a run killed mid-way resumes
to the same bytes. Runs on the real 2-CPU loopback cluster (tests/support/ray_cluster.py)."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.embed import job as embed_job
from pipelines.embed.job import cache_dir, load_cache, run_embed
from tests.support.embed_data import SEARCHES, config, file_bytes, real_model, write_curated
from tests.support.ray_cluster import ray_config

MODEL = "all-MiniLM-L6-v2"
# More distinct texts than the shared set, so that chunks of 2 give several parts per kind.
MORE_SEARCHES = [*SEARCHES, ("u4", 4, "trail running shoes"), ("u2", 10, "silk scarf"), ("u1", 5, "usb c charger")]


def _ray_cfg(data_dir):
    """Two 1-CPU encoder actors running torch with this process's thread count: a vector is a
    function of (model, kind, text) at a given CPU thread count (torch's kernels differ in the
    last bits between thread counts), so the actors use the local run's."""
    import torch

    return ray_config(data_dir, encoder__model=MODEL, encoder__device="cpu", encoder__precision="fp32",
                      encoder__num_threads=torch.get_num_threads(), ray__encoder_actors=2,
                      ray__cpus_per_encoder=1.0)


def _never_local(*args, **kwargs):
    pytest.fail("engine: ray encoded in the driver process")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The reference: the local job on the tiny workspace, with the real MiniLM in this process."""
    root = tmp_path_factory.mktemp("local")
    ws = write_curated(root, searches=MORE_SEARCHES)
    manifest = run_embed(config(root, encoder__precision="fp32"), model=real_model())
    return ws, manifest


def test_ray_embed_writes_the_local_cache_parts_and_profiles_bit_for_bit(ray_cluster, tmp_path, local_run,
                                                                       monkeypatch):
    local_ws, local = local_run
    ws = write_curated(tmp_path / "ray", searches=MORE_SEARCHES)
    monkeypatch.setattr(embed_job, "_encode_here", _never_local)  # the actors must do the encoding
    got = run_embed(_ray_cfg(tmp_path / "ray"))
    assert (got["engine"], got["device"], got["precision"]) == ("ray", "cpu", "fp32")
    assert got["encoded"] == local["encoded"] == 11 and got["profiles"] == local["profiles"]
    cache, local_cache = cache_dir(ws, MODEL), cache_dir(local_ws, MODEL)
    keys, vecs = load_cache(cache, 384)
    want_keys, want = load_cache(local_cache, 384)
    order = want_keys.get_indexer(keys)
    assert (order >= 0).all() and len(keys) == len(want_keys)
    assert np.array_equal(vecs.view(np.uint32), want[order].view(np.uint32))  # bit for bit
    assert file_bytes(cache) == file_bytes(local_cache)  # same parts, names and bytes
    assert file_bytes(ws.features) == file_bytes(local_ws.features)  # same profile tables


def test_killed_ray_embed_resumes_to_the_local_bytes(ray_cluster, tmp_path, local_run, monkeypatch):
    local_ws, _ = local_run
    monkeypatch.setattr(embed_job, "CHUNK_SIZE", 2)
    ws = write_curated(tmp_path / "ray", searches=MORE_SEARCHES)
    real_write, calls = embed_job.write_part, []

    def dying_write(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt  # the driver is killed after two parts reached the disk
        calls.append(real_write(*args))
        return calls[-1]

    monkeypatch.setattr(embed_job, "write_part", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_embed(_ray_cfg(tmp_path / "ray"))
    cache = cache_dir(ws, MODEL)
    assert len(list(cache.glob("part-*.parquet"))) == 2 and not ws.feature_table("user_review_profile").exists()
    kept = len(load_cache(cache, 384)[0])  # 3 or 4 texts: parts arrive in completion order
    monkeypatch.setattr(embed_job, "write_part", real_write)
    resumed = run_embed(_ray_cfg(tmp_path / "ray"))  # the pool of the killed run must not block this one
    assert kept in (3, 4) and (resumed["encoded"], resumed["cache_hits"]) == (11 - kept, kept)
    keys, vecs = load_cache(cache, 384)
    want_keys, want = load_cache(cache_dir(local_ws, MODEL), 384)
    assert np.array_equal(vecs.view(np.uint32), want[want_keys.get_indexer(keys)].view(np.uint32))
    assert file_bytes(ws.features) == file_bytes(local_ws.features)


@pytest.mark.parametrize(("setting", "cluster", "want"), [(None, 2.0, 1.0), (None, 0.0, 0.0), (0.5, None, 0.5)])
def test_each_encoder_actor_takes_one_gpu_when_the_cluster_has_gpus(tmp_path, monkeypatch, setting, cluster, want):
    from pipelines.embed import ray_encode

    def gpus(cfg):
        assert cluster is not None, "an explicit ray.gpus_per_encoder must not ask the cluster"
        return cluster

    monkeypatch.setattr(ray_encode, "cluster_gpus", gpus)
    cfg = ray_config(tmp_path, ray__gpus_per_encoder=setting, ray__cpus_per_encoder=3.0)
    assert ray_encode.actor_resources(cfg) == {"num_cpus": 3.0, "num_gpus": want}
