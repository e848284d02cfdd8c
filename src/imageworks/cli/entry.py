"""The console scripts' entry points: start-up runs with the cyclic garbage collector paused.

Start-up imports some three hundred modules and builds every plugin's commands: tens of
thousands of objects that all stay alive. CPython's collector still runs after every 700
new objects and, as the heap grows, walks more and more of them for no garbage: 7-8 ms of
a 110 ms ``--help`` on the reference machine (``docs/benchmarks.md``). So each entry point
pauses the collector before anything is imported; :func:`resume_collection` (called by
:func:`imageworks.cli.main.run` just before the command runs) freezes what start-up built,
so that later collections skip it, and turns collection back on for the command's own work,
with a larger young generation (:data:`COMMAND_YOUNG_THRESHOLD`).
"""

from __future__ import annotations

import gc

#: New objects between two collections of the young generation while a command runs
#: (CPython's default is 700). A short command (the no-op re-run builds some 17,000 objects,
#: nearly all kept: modules, classes, generated code) then ends without a collection, where
#: 700 cost it 25 young and 2 middle ones, 3 ms; a long command collects as much garbage
#: in fewer, larger passes, with at most this many young objects waiting (a few MiB).
COMMAND_YOUNG_THRESHOLD = 20_000


def resume_collection() -> None:
    """Freeze start-up's objects and resume collection, if an entry point paused it."""
    if not gc.isenabled():
        gc.freeze()
        _young, middle, old = gc.get_threshold()
        gc.set_threshold(COMMAND_YOUNG_THRESHOLD, middle, old)
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
