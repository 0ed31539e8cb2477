"""PowerTier's Feast repository.

* ``names.py`` — plain constants (project, service names, request field); importing it is free.
* ``entities.py``, ``data_sources.py``, ``feature_views.py``, ``feature_services.py`` — builders.
* ``definitions.py`` — ``build_definitions``: every object for one workspace.

The Feast CLI does not read this folder: ``powertier features apply`` writes each workspace's
``<data_dir>/feast/`` (``feature_store.yaml`` + ``powertier_repo.py``, which calls
``build_definitions`` with that workspace's paths), and ``feast -c <data_dir>/feast ...`` runs there.
"""
