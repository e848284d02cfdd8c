"""The built-in ``url`` source: one weight file at a plain ``http(s)://`` URL."""
