"""Optional parts of imageworks and the extras that install them.

The GUI (``gui``: Streamlit), the PostgreSQL registry backend (``postgres``: psycopg) and
the chat proxy (``proxy``: Starlette and uvicorn) are extras, so the tool alone installs
without them. Code that needs one calls :func:`require` first: a missing extra is one
``Error:`` line naming it, not an ``ImportError`` traceback.
"""

from __future__ import annotations

import importlib.util

EXTRAS: dict[str, tuple[str, ...]] = {
    "gui": ("streamlit",),
    "postgres": ("psycopg",),
    "proxy": ("starlette", "uvicorn"),
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [module for module in EXTRAS[extra] if importlib.util.find_spec(module) is None]


def require(extra: str, needed_for: str) -> None:
    """Raise :class:`ImageworksError` naming ``extra`` unless its modules are installed."""
    absent = missing(extra)
    if absent:
        from imageworks.core.errors import ImageworksError

        raise ImageworksError(
            f"{needed_for} needs the '{extra}' extra, which is not installed ({', '.join(absent)} missing)",
            f"install imageworks with it: `uv tool install --reinstall '.[{extra}]'` in the repository, "
            f"or `pipx install --force '.[{extra}]'`; `[all]` installs every extra",
        )
