"""PowerTier's Feast repository.

* ``names.py`` — plain constants (project, service names, request field); importing it is free.
* ``entities.py``, ``data_sources.py``, ``feature_views.py``, ``feature_services.py`` — builders.
* ``definitions.py`` — ``build_definitions``: every object for one workspace.
* ``repo.py`` — what the Feast CLI reads (``feast -c feature_repo plan|apply|ui``): the objects of
  the default workspace.
"""
