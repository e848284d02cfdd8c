"""The local source: model folders already on disk, laid out as ``<owner>/<repo>``."""
