"""The run's stored features read from a SQLite online store without Feast's per-call plumbing.

``store.get_online_features(refs, rows).to_dict()`` resolves the refs against the registry,
builds a response proto (one vector per feature) and converts it back to Python on every call:
~70% of a single-user lookup's CPU was that plumbing, the same work for every request, and ~30%
the SQLite reads themselves. :class:`StoredReader` resolves the views once and per request reads
the requested features of every view in one SQL statement on the online store's own connection
(the tables and value protos Feast's ``online_read`` reads), converting values with Feast's own
``feast_value_type_to_python_type`` (plain scalars read straight off the proto: the same value),
so it returns exactly what ``to_dict()`` returns. Only for SQLite: Feast's Redis store batches all
views into one pipeline inside ``get_online_features``, one ``online_read`` per view would cost a
round trip each. Anything unusual (another store, feature-view versioning, an entity other than
``user_id``) keeps ``get_online_features``; start-up checks the reader against it
(``pipelines.serve.predict.check_reader``).
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
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        unique = list(dict.fromkeys(user_ids))  # Feast reads each distinct entity once too
        version = self.config.entity_key_serialization_version
        keys = {u: serialize_entity_key(EntityKey(join_keys=[ENTITY], entity_values=[Value(string_val=u)]),
                                        entity_key_serialization_version=version) for u in unique}
        found = {(view, key, name): value for view, key, name, value in
                 self.online._get_conn(self.config).execute(self._sql(len(keys)), self._params(list(keys.values())))}
        data: Columns = {ENTITY: list(user_ids)}
        for v, (_, names) in enumerate(self.views):
            for name in names:
                values = {u: _python(_parse(found.get((v, k, name)))) for u, k in keys.items()}
                data[name] = [values[u] for u in user_ids]
        return data

    def _sql(self, n_keys: int) -> str:
        """One statement for every view: the union of each table's requested features of the keys.
        Feast's ``online_read`` runs one statement per view and parses every feature of the table
        (embeddings included) and its timestamp; this is ~0.4 ms of a served row less (docs/BENCHMARKS.md)."""
        from feast.infra.online_stores.sqlite import _quote_id, _table_id

        keys = ",".join("?" * n_keys)
        return " UNION ALL ".join(
            f"SELECT {v}, entity_key, feature_name, value FROM {_quote_id(_table_id(self.config.project, view))} "
            f"WHERE entity_key IN ({keys}) AND feature_name IN ({','.join('?' * len(names))})"
            for v, (view, names) in enumerate(self.views))

    def _params(self, keys: list[bytes]) -> list[Any]:
        return [p for _, names in self.views for p in (*keys, *names)]


def _parse(blob: bytes | None) -> Any:
    """A stored value proto, or None where the user has no value of that feature."""
    if blob is None:
        return None
    from feast.protos.feast.types.Value_pb2 import Value

    value = Value()
    value.ParseFromString(blob)
    return value


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
