"""The guide's import paths (section 9): thin facades over the core and the providers."""
