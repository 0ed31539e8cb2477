"""The embedding job end to end on a tiny curated workspace, with the real MiniLM model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from embeddings.encoder import encode
from embeddings.profiles import profile_columns
from pipelines.embed import job as embed_job
from pipelines.common.errors import UserError
from pipelines.embed.job import run_embed
from tests.support.embed_data import REVIEWS, T0, config, file_bytes, real_model, write_curated

VIEWS = ("user_review_profile", "user_search_profile")


@pytest.fixture(scope="module")
def model():
    return real_model()


def _tables(ws) -> dict[str, pd.DataFrame]:
    return {v: pd.read_parquet(ws.feature_table(v)) for v in VIEWS}


def test_full_run_counts_every_text_and_writes_exact_profiles(tmp_path, model) -> None:
    ws = write_curated(tmp_path)
    m = run_embed(config(tmp_path), model=model)
    assert (m["model"], m["dim"], m["device"], m["precision"]) == ("all-MiniLM-L6-v2", 384, "cpu", "fp32")
    rev = m["tables"]["reviews"]
    assert (rev["texts_in"], rev["kept"], rev["dropped"]["too_short"], rev["flagged"]["promo"]) == (8, 5, 1, 2)
    assert (rev["distinct_texts"], rev["encoded"], rev["cache_hits"]) == (3, 3, 0)  # GREAT == great
    assert m["texts_in"] == 15 and m["flagged"]["promo"] == 3 and m["encoded"] == 8
    assert json.loads((ws.embeddings / "embed_manifest.json").read_text())["dim"] == 384
    tables = _tables(ws)
    review, search = tables["user_review_profile"], tables["user_search_profile"]
    assert list(review.columns) == [*profile_columns("review"), "user_review_profile_ts"]
    # u3 wrote only spam, u4 only a too-short review: no review rows, never zero vectors.
    assert sorted(set(review["user_id"])) == ["u1", "u2"] and sorted(set(search["user_id"])) == ["u1", "u2", "u4"]
    u1 = review[review["user_id"] == "u1"].iloc[-1]
    assert u1["review_count"] == 3 and u1["event_timestamp"] == T0 + pd.Timedelta(days=3)
    texts = [REVIEWS[0][2].lower(), REVIEWS[1][2].lower()]
    vecs = encode(model, texts, "document").astype(np.float64)
    want = (2 * vecs[0] + vecs[1]) / 3
    assert u1["review_embedding"].dtype == np.float32 and np.allclose(u1["review_embedding"], want, atol=1e-5)


def test_rerun_encodes_nothing_loads_no_model_and_rewrites_identical_bytes(tmp_path, model, monkeypatch) -> None:
    ws = write_curated(tmp_path)
    run_embed(config(tmp_path), model=model)
    before = file_bytes(ws.features) | file_bytes(ws.embeddings / "cache")
    monkeypatch.setattr("pipelines.storage.models.load_model", lambda cfg: pytest.fail("model loaded for nothing"))
    m = run_embed(config(tmp_path))
    assert m["encoded"] == 0 and m["cache_hits"] == 8 and m["device"].startswith("none")
    assert file_bytes(ws.features) | file_bytes(ws.embeddings / "cache") == before


def test_new_data_encodes_only_the_new_texts(tmp_path, model) -> None:
    write_curated(tmp_path)
    run_embed(config(tmp_path), model=model)
    write_curated(tmp_path, reviews=[*REVIEWS, ("u4", 6, "The running shoes fit perfectly.")])
    m = run_embed(config(tmp_path), model=model)
    assert (m["encoded"], m["cache_hits"]) == (1, 8)
    assert m["profiles"]["user_review_profile"] == {"rows": 5, "users": 3}


def test_killed_run_resumes_to_the_same_result(tmp_path, model, monkeypatch) -> None:
    monkeypatch.setattr(embed_job, "CHUNK_SIZE", 2)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole_ws, ws = write_curated(whole), write_curated(killed)
    run_embed(config(whole), model=model)
    real_write, calls = embed_job.write_part, []

    def dying_write(*args):
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process is killed while encoding the 4th chunk
        calls.append(real_write(*args))
        return calls[-1]

    monkeypatch.setattr(embed_job, "write_part", dying_write)
    with pytest.raises(KeyboardInterrupt):
        run_embed(config(killed), model=model)
    monkeypatch.setattr(embed_job, "write_part", real_write)
    cache = embed_job.cache_dir(ws, "all-MiniLM-L6-v2")
    (cache / "tmpleftover.tmp").write_bytes(b"half a part")
    assert len(list(cache.glob("part-*.parquet"))) == 3 and not ws.feature_table(VIEWS[0]).exists()
    m = run_embed(config(killed), model=model)
    assert (m["encoded"], m["cache_hits"]) == (3, 5)  # chunks of 2: documents 2+1, queries 2 | 2+1
    assert file_bytes(ws.features) == file_bytes(whole_ws.features)
    assert file_bytes(cache) == file_bytes(embed_job.cache_dir(whole_ws, "all-MiniLM-L6-v2"))


def test_missing_search_table_writes_a_typed_empty_table_and_says_so(tmp_path, model) -> None:
    import pyarrow.parquet as pq

    ws = write_curated(tmp_path, searches=None)
    m = run_embed(config(tmp_path), model=model)
    assert m["notes"] == ["searches: no curated table, wrote an empty user_search_profile"]
    assert m["tables"]["searches"]["present"] is False and m["tables"]["searches"]["texts_in"] == 0
    schema = pq.read_schema(ws.feature_table("user_search_profile"))
    assert str(schema.field("search_embedding").type) == "list<element: float>"
    assert str(schema.field("event_timestamp").type) == "timestamp[us, tz=UTC]"
    empty = pd.read_parquet(ws.feature_table("user_search_profile"))
    assert len(empty) == 0 and list(empty.columns) == [*profile_columns("search"), "user_search_profile_ts"]
    assert empty["search_count"].dtype == np.int64


def test_all_spam_gives_empty_profiles(tmp_path, model) -> None:
    spam = [("u1", 0, "BUY NOW www.x.com"), ("u2", 1, "click here $$$$$$$$")]
    ws = write_curated(tmp_path, reviews=spam, searches=spam)
    m = run_embed(config(tmp_path), model=model)
    assert m["kept"] == 0 and m["encoded"] == 0 and sum(m["flagged"].values()) == 4
    assert all(len(t) == 0 for t in _tables(ws).values())


def test_no_curated_data_is_a_user_error(tmp_path, model) -> None:
    with pytest.raises(UserError, match="powertier ingest"):
        run_embed(config(tmp_path), model=model)


def test_cli_prints_the_table_and_honours_options(data_dir, model, monkeypatch) -> None:
    from pipelines.cli import app

    write_curated(data_dir)
    seen = {}

    def fake_load(cfg):
        seen["cfg"] = cfg
        return model

    monkeypatch.setattr("pipelines.storage.models.load_model", fake_load)
    result = CliRunner().invoke(app, ["embed", "--device", "cpu", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "distinct texts" in result.output and "user_review_profile 4 rows" in result.output
    assert seen["cfg"].encoder.batch_size == 4 and seen["cfg"].encoder.device == "cpu"
    bad = CliRunner().invoke(app, ["embed", "--device", "tpu"])
    assert bad.exit_code == 2


def test_cache_parts_round_trip_and_check_the_dimension(tmp_path) -> None:
    d = tmp_path / "cache"
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    embed_job.write_part(d, ["a", "b", "c"], vecs)
    embed_job.write_part(d, ["c", "d"], vecs[:2] + 100)
    keys, got = embed_job.load_cache(d, 4)
    assert len(keys) == 4 and not keys.duplicated().any()
    assert np.array_equal(got[keys.get_indexer(["a", "b"])], vecs[:2])
    with pytest.raises(ValueError, match="dimension"):
        embed_job.load_cache(d, 8)
    assert embed_job.load_cache(tmp_path / "none", 4)[1].shape == (0, 4)


def test_tags_score_the_written_profiles_against_the_configured_prototypes(tmp_path, model) -> None:
    from embeddings.encoder import canonical_texts
    from embeddings.tags import cosine_scores, prototype_vectors
    from pipelines.common.config import TagConfig

    tags = [TagConfig(name="audio", phrases=["headphones with great sound", "耳机音质"]),
            TagConfig(name="gloomy", phrases=["broke, disappointed"], sources=["review"])]
    ws = write_curated(tmp_path)
    m = run_embed(config(tmp_path, tags={"tags": tags}), model=model)
    assert m["tags"] == {"view": "user_profile_tags", "names": ["audio", "gloomy"], "phrases": 3, "rows": 7,
                         "users": 3, "phrases_encoded": 6}  # 3 phrases as passages and as queries
    table = pd.read_parquet(ws.feature_table("user_profile_tags"))
    profiles = _tables(ws)
    assert list(table.columns) == ["user_id", "event_timestamp", "tag_audio", "tag_gloomy", "user_profile_tags_ts"]
    u1 = table[table["user_id"] == "u1"].iloc[-1]  # u1 reviewed and searched by then
    protos = {kind: prototype_vectors(encode(model, canonical_texts(["headphones with great sound", "耳机音质",
                                                                     "broke, disappointed"], True), kind),
                                      [0, 0, 1], 2) for kind in ("document", "query")}
    review = profiles["user_review_profile"].query("user_id == 'u1'").iloc[-1]["review_embedding"][None]
    search = profiles["user_search_profile"].query("user_id == 'u1'").iloc[-1]["search_embedding"][None]
    rev, sea = cosine_scores(review, protos["document"])[0], cosine_scores(search, protos["query"])[0]
    assert np.isclose(u1["tag_audio"], (rev[0] + sea[0]) / 2, atol=1e-6) and np.isclose(u1["tag_gloomy"], rev[1], atol=1e-6)
    assert table.query("user_id == 'u4'")["tag_gloomy"].isna().all()  # u4 only searched: no review tag
    assert run_embed(config(tmp_path, tags={"tags": tags}), model=model)["tags"]["phrases_encoded"] == 0  # cached


def test_disabled_tags_write_an_empty_typed_view(tmp_path, model) -> None:
    ws = write_curated(tmp_path)
    m = run_embed(config(tmp_path, tags__enabled=False), model=model)
    assert m["tags"]["rows"] == 0 and m["tags"]["names"] == [] and m["tags"]["phrases_encoded"] == 0
    assert list(pd.read_parquet(ws.feature_table("user_profile_tags")).columns) == [
        "user_id", "event_timestamp", "user_profile_tags_ts"]
