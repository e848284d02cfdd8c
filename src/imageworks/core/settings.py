"""Settings a plugin declares for itself (``imageworks_register_settings``, ``Source.settings``).

Users set them in ``[tool.imageworks.model-downloader]`` or the setting's environment
variable; the plugin reads one with ``config.setting(SETTING)`` on the config it is
handed, never by loading the configuration itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs

from imageworks.core.errors import ConfigError

SettingType = Literal["str", "int", "float", "bool", "list", "path"]
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_PYTHON: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
                                        "list": (list,), "path": (str,)}


@attrs.frozen(kw_only=True)
class Setting:
    """One setting: its key in the table, its type, default and help, and optionally an
    environment variable that overrides the table (lists there are comma-separated)."""

    name: str
    type: SettingType = attrs.field(default="str", validator=attrs.validators.in_(tuple(_PYTHON)))
    default: Any = None
    help: str = ""
    env: str | None = None


def read_setting(setting: Setting, table: Mapping[str, Any], environ: Mapping[str, str],
                 pyproject: Path | None) -> tuple[Any, str]:
    """``(value, source)``: the environment variable, then the table, then the default.
    Raises :class:`ConfigError` (one line) for a value of the wrong type."""
    if setting.env and environ.get(setting.env):
        source = f"env {setting.env}"
        return _from_text(setting, environ[setting.env], source), source
    if setting.name not in table:
        return setting.default, "default"
    source, value = f"pyproject {pyproject}", table[setting.name]
    right = isinstance(value, _PYTHON[setting.type]) and not (setting.type != "bool" and isinstance(value, bool))
    if not right or (setting.type == "list" and not all(isinstance(v, str) for v in value)):
        raise _wrong_type(setting, value, source)
    return (Path(value).expanduser().absolute() if setting.type == "path" else value), source


def _from_text(setting: Setting, text: str, source: str) -> Any:
    """An environment variable's text as a value of the setting's type."""
    kind, clean = setting.type, text.strip()
    try:
        if kind in ("int", "float"):
            return int(clean) if kind == "int" else float(clean)
    except ValueError:
        raise _wrong_type(setting, text, source) from None
    if kind == "bool":
        if clean.lower() not in _TRUE | _FALSE:
            raise _wrong_type(setting, text, source)
        return clean.lower() in _TRUE
    if kind == "list":
        return [part.strip() for part in clean.split(",") if part.strip()]
    return Path(clean).expanduser().absolute() if kind == "path" else text


def _wrong_type(setting: Setting, value: Any, source: str) -> ConfigError:
    example = {"list": '["a", "b"]', "bool": "true", "int": "8", "float": "2.5"}.get(setting.type, '"text"')
    return ConfigError(f"{setting.name} must be a {setting.type}, got {value!r} (from {source})",
                       f"write it as {setting.name} = {example}")
