"""``python -m imageworks.gui``: the same as ``imageworks-gui``."""

from imageworks.gui.launcher import main

raise SystemExit(main())
