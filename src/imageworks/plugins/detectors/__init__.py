"""Built-in format and quantisation detectors, one plugin module per kind of evidence.

Each module registers its detector through ``imageworks_register_detectors`` and is
listed in ``pyproject.toml`` under ``[project.entry-points."imageworks.plugins"]``. The
core (:mod:`imageworks.core.detection`) combines them; it never imports these modules.
Shared helpers for walking a model folder live in :mod:`._files`.
"""
