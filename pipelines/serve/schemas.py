"""The HTTP contract of the PowerTier API: request and response bodies as pydantic models.

The routes build plain dicts (a ``JSONResponse`` skips FastAPI's encoder walk); these models are
what OpenAPI publishes, and the contract tests validate real responses against them
(``extra="forbid"``), so the published schema cannot drift from what the server sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from pipelines.common.ids import IdStr

# The ingest limit and normal form (pipelines.common.ids): NFKC, invisible characters removed.
UserId = Annotated[IdStr, Field(examples=["u000042"])]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(BaseModel):
    """Users to score, and the time to score them at."""

    user_ids: list[UserId] = Field(description="1 to serve.max_batch user ids; repeats are answered once each, "
                                               "in request order.", examples=[["u000042", "u000043"]])
    as_of: datetime | None = Field(None, description="Time of the time-relative features (tenure, days since "
                                                     "the last order); default: now. A naive time is UTC.")
    reasons: bool = Field(True, description="Explain both answers (`reasons`, `tier_reasons`: path contributions, or TreeSHAP "
                                            "for a run trained with train.reasons: treeshap). false leaves "
                                            "both lists empty and `tier_reasons_class` null; the numbers are the same.")


class Reason(_Strict):
    """One explanation group and its contribution to the model's raw score."""

    group: str = Field(description="A text profile (review_profile, search_profile) or a transactional "
                                   "family (spend, orders, returns, ...).", examples=["spend"])
    contribution: float = Field(description="Summed LightGBM contribution of the group's inputs (raw score "
                                            "scale; positive pushes the prediction up).", examples=[0.41])


class Prediction(_Strict):
    """The model's answer for one user."""

    user_id: str
    tier: str | None = Field(description="Most probable tier; null when the run has no tier model.",
                             examples=["gold"])
    tier_probabilities: dict[str, float] = Field(
        description="Probability per configured tier, low to high; empty when the run has no tier model.",
        examples=[{"bronze": 0.05, "silver": 0.21, "gold": 0.61, "platinum": 0.13}])
    purchasing_power: float = Field(description="Predicted net spend over the next horizon_days days, in the "
                                                "currency of the orders' amount column.", examples=[412.7])
    horizon_days: int = Field(description="Horizon of purchasing_power in days (the run's training horizon H).",
                              examples=[90])
    cold_start: bool = Field(description="True when the user has no row in any feature view (unknown user, "
                                         "or nothing materialized yet); the model still answers.")
    feature_timestamp: datetime | None = Field(description="Time of the newest feature row used; null on a "
                                                           "cold start.")
    feature_age_seconds: float | None = Field(description="as_of minus feature_timestamp; null on a cold start.",
                                              examples=[86400.0])
    stale: bool | None = Field(description="True when feature_age_seconds exceeds serve.stale_after_days; "
                                           "null on a cold start.")
    reasons: list[Reason] = Field(description="The three groups with the largest absolute contribution to "
                                              "purchasing_power.")
    tier_reasons_class: str | None = Field(description="The tier class that tier_reasons explains (the "
                                                       "predicted tier); null without a tier model.",
                                           examples=["gold"])
    tier_reasons: list[Reason] = Field(description="The three groups with the largest absolute contribution "
                                                   "to the probability of tier_reasons_class.")
    tags: dict[str, float | None] = Field(
        description="Profile tags from the user's texts (config tags; docs/EMBEDDINGS.md): cosine of the review "
                    "and search profiles to each tag's prototype phrases, centred within the tag's group (> 0: more "
                    "than the user's other tags of the group), e.g. category interests, price_sensitive vs premium, "
                    "positive vs negative. Null: no text profile yet (or, for review-only tags, no review). Empty "
                    "when the workspace registers no tags.",
        examples=[{"electronics": 0.012, "premium": 0.006, "price_sensitive": -0.006, "positive": 0.011}])


class PredictResponse(_Strict):
    """Predictions in request order."""

    run_id: str = Field(description="The trained run that answered.", examples=["20260301T120000Z-s42"])
    as_of: datetime
    predictions: list[Prediction]


class EventAccepted(_Strict):
    """An event that was validated, applied to the user's online features and logged."""

    accepted: bool = True
    table: str = Field(description="Raw table the event belongs to (orders, reviews, searches).")
    user_id: str
    replayed: bool = Field(description="True when this id was already logged with the same values (a retry): "
                                       "the rows were recomputed and pushed again, the event counts once.")
    updated_views: list[str] = Field(description="Feature views whose online row changed.")
    text_skipped: str | None = Field(description="Why a review/search text did not enter the profile "
                                                 "(too short, spam), else null.")
    feature_timestamp: datetime = Field(description="Timestamp of the updated online rows.")


class OrderAccepted(EventAccepted):
    order_id: str = Field(description="The given id, or a generated evt-<uuid>.")


class ReviewAccepted(EventAccepted):
    review_id: str = Field(description="The given id, or a generated evt-<uuid>.")


class SearchAccepted(EventAccepted):
    search_id: str = Field(description="The given id, or a generated evt-<uuid>.")


ACCEPTED = {"order": OrderAccepted, "review": ReviewAccepted, "search": SearchAccepted}


class ErrorBody(_Strict):
    """Every error answer: a human-readable message, plus details where useful."""

    error: str = Field(examples=["missing or invalid X-API-Key header"])
    detail: Any = Field(None, description="422: pydantic's list of problems, or the event's rejection detail.")
    reason: str | None = Field(None, description="Events: the ingest rejection reason (e.g. negative_amount, "
                                                 "duplicate_id).")


class Health(_Strict):
    status: str = Field(examples=["ok"])


class Readiness(_Strict):
    """Readiness of the model and the online store."""

    status: str = Field(examples=["ready"])
    run_id: str | None = None
    online_store: str | None = Field(None, examples=["sqlite"])
    store: str | None = Field(None, description="'ok' or why the online store is unreachable.")
    events: str | None = Field(None, description="'ok' or why the event path is unavailable.")
    error: str | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given error status codes, all with :class:`ErrorBody`."""
    text = {401: "Missing or wrong X-API-Key header (only when POWERTIER_API_KEY is set).",
            409: "The event id is already curated or logged.",
            413: "More user ids than serve.max_batch.",
            422: "Malformed body, or an event that breaks the raw-data contract (see reason).",
            503: "The online store is unreachable, or the server is starting; retry after Retry-After seconds."}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}
