"""Registry-facing helpers shared by the downloader, importers and serving tools."""
