"""Maintain: verify, remove, normalise, clean up and back up the registry and what it points at."""
