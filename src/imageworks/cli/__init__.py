"""Click front end: ``main`` is the composition root; each command group is a plugin."""
