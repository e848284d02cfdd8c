"""The Ollama source: read the local Ollama store and server, import models into the registry.

- :mod:`.store` reads manifests and blobs on disk (no server needed);
- :mod:`.api` asks a running server through the official ``ollama`` client;
- :mod:`.catalog` merges both views into one list of models;
- :mod:`.importer` records them through the download adapter (Strategy A naming);
- :mod:`.maintenance` backs ``backfill-ollama-paths`` and ``restore-ollama``;
- :mod:`.plugin` registers the ``ollama`` source with the plugin host.

Submodules are imported on demand so that loading the plugin stays cheap.
"""
