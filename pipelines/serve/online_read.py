"""The run's stored features read from a SQLite online store without Feast's per-call plumbing.

``store.get_online_features(refs, rows).to_dict()`` resolves the refs against the registry,
builds a response proto (one vector per feature) and converts it back to Python on every call:
~70% of a single-user lookup's CPU was that plumbing, the same work for every request, and ~30%
the SQLite reads themselves. :class:`StoredReader` resolves the views once and per request calls
the online store's own ``online_read`` per view, converting values with Feast's own
``feast_value_type_to_python_type`` (plain scalars read straight off the proto: the same value),
so it returns exactly what ``to_dict()`` returns. Only for SQLite: Feast's Redis store batches all
views into one pipeline inside ``get_online_features``, one ``online_read`` per view would cost a
round trip each. Anything unusual (another store, feature-view versioning, an entity other than
``user_id``) keeps ``get_online_features``; start-up checks the reader against it
(:func:`reader_problem`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feast import FeatureStore

    from pipelines.serve.scoring import Columns

ENTITY = "user_id"
# Oneof fields whose Python value is the proto attribute itself (what Feast's converter returns).
_PLAIN = frozenset({"double_val", "float_val", "int64_val", "int32_val", "string_val", "bool_val", "bytes_val"})


@dataclass(frozen=True)
class StoredReader:
    """Resolved once: the online store, its config and each view with the features to read."""

    online: Any
    config: Any
    views: tuple[tuple[Any, tuple[str, ...]], ...]

    def read(self, user_ids: list[str]) -> Columns:
        """``{"user_id": [...], feature: [...]}`` for these users, as ``to_dict()`` gives it."""
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        unique = list(dict.fromkeys(user_ids))  # Feast reads each distinct entity once too
        keys = [EntityKey(join_keys=[ENTITY], entity_values=[Value(string_val=u)]) for u in unique]
        at = {u: i for i, u in enumerate(unique)}
        slots = [at[u] for u in user_ids]
        data: Columns = {ENTITY: list(user_ids)}
        for view, names in self.views:
            rows = self.online.online_read(self.config, table=view, entity_keys=keys, requested_features=list(names))
            for name in names:
                values = [_python(row[1].get(name)) if row[1] is not None else None for row in rows]
                data[name] = [values[s] for s in slots]
        return data


def _python(value: Any) -> Any:
    """Feast's proto -> Python conversion (``to_dict``'s), short-cut for plain scalars."""
    if value is None:
        return None
    attr = value.WhichOneof("val")
    if attr is None:
        return None
    if attr in _PLAIN:
        return getattr(value, attr)
    from feast.type_map import feast_value_type_to_python_type

    return feast_value_type_to_python_type(value)


def stored_reader(store: FeatureStore, refs: list[str]) -> StoredReader | None:
    """A reader for ``refs`` ("view:feature"), or None where ``get_online_features`` must stay."""
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    online = store._get_provider().online_store  # Feast exposes no public handle on it
    if type(online) is not SqliteOnlineStore or getattr(store.config.registry,
                                                         "enable_online_feature_view_versioning", False):
        return None
    groups: dict[str, list[str]] = {}
    for ref in refs:
        view, _, name = ref.partition(":")
        groups.setdefault(view, []).append(name)
    views = []
    for name, features in groups.items():
        view = store.get_feature_view(name)
        if [c.name for c in view.entity_columns] != [ENTITY] or getattr(view.projection, "version_tag", None):
            return None
        views.append((view, tuple(features)))
    return StoredReader(online, store.config, tuple(views))
