"""``python -m imageworks.cli`` runs ``imageworks-download``."""

from imageworks.cli.entry import download_main

download_main()
