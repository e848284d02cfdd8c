"""The console scripts' entry points: start-up runs with the cyclic garbage collector paused.

Start-up imports some three hundred modules and builds every plugin's commands: tens of
thousands of objects that all stay alive. CPython's collector still runs after every 700
new objects and, as the heap grows, walks more and more of them for no garbage: 7-8 ms of
a 110 ms ``--help`` on the reference machine (``docs/benchmarks.md``). So each entry point
pauses the collector before anything is imported; :func:`resume_collection` (called by
:func:`imageworks.cli.main.run` just before the command runs) freezes what start-up built,
so that later collections skip it, and turns collection back on for the command's own work.
"""

from __future__ import annotations

import gc


def resume_collection() -> None:
    """Freeze start-up's objects and resume collection, if an entry point paused it."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def download_main() -> None:
    """``imageworks-download``."""
    gc.disable()
    from imageworks.cli import main

    main.download_main()


def loader_main() -> None:
    """``imageworks-loader``."""
    gc.disable()
    from imageworks.cli import main

    main.loader_main()


def model_registry_main() -> None:
    """``imageworks-model-registry``."""
    gc.disable()
    from imageworks.cli import main

    main.model_registry_main()
