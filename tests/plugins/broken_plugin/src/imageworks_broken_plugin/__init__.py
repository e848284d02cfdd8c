"""A plugin that fails on import, so tests can prove a broken plugin is reported, not fatal."""

raise RuntimeError("imageworks-broken-plugin is broken on purpose")
