"""Feast project and entities of PowerTier."""

from __future__ import annotations

from feast import Entity, ValueType



def user_entity() -> Entity:
    """The customer; every PowerTier feature view is keyed by it."""
    return Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING,
                  description="An e-commerce customer (users.user_id of the raw-data contract).")
