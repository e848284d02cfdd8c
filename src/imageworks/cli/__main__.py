"""``python -m imageworks.cli`` runs ``imageworks-download``."""

from imageworks.cli.main import download_main

download_main()
