"""Built-in plugins: registry backends, detectors, routers. Each is listed as an entry
point in ``imageworks.plugins`` exactly like a third-party plugin."""
