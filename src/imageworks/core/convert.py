"""The one cattrs converter, and the dict forms of the value types.

Every record class with an ``extra`` field round-trips keys it does not know: on the way
in they are collected into ``extra``; on the way out they are written back beside the
known fields. Plugins may add hooks to this converter through ``imageworks_converter``.

The converter runs without cattrs' detailed validation: its generated code is the
larger part of reading the registry at start-up. A failure is worded by structuring
the same data again with detailed validation (:func:`describe_structure_error`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

converter = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)


def _keeps_extra(cls: type) -> bool:
    return attrs.has(cls) and "extra" in attrs.fields_dict(cls)


def _known_fields(cls: type) -> list[attrs.Attribute[Any]]:
    return [a for a in attrs.fields(cls) if a.name != "extra"]


def _structure_factory(cls: type, conv: cattrs.Converter) -> Callable[[Any, type], Any]:
    base: cattrs.SimpleStructureHook[Mapping[str, Any], Any] = make_dict_structure_fn(
        cls, conv, extra=override(omit=True)
    )
    known = {a.name for a in _known_fields(cls)}

    def structure(data: Any, _: type) -> Any:
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
        if known.issuperset(data):  # the common case: nothing unknown to set aside
            return base(data, cls)
        obj = base({k: v for k, v in data.items() if k in known}, cls)
        obj.extra = {k: v for k, v in data.items() if k not in known}
        return obj

    return structure


def _unstructure_factory(cls: type, conv: cattrs.Converter) -> Callable[[Any], dict[str, Any]]:
    base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, conv, extra=override(omit=True))

    def unstructure(obj: Any) -> dict[str, Any]:
        out = base(obj)
        if obj.extra:
            out.update(obj.extra)
        return out

    return unstructure


converter.register_structure_hook_factory(_keeps_extra, _structure_factory)
converter.register_unstructure_hook_factory(_keeps_extra, _unstructure_factory)
if "imageworks.core.plugins" in sys.modules:  # plugin hosts built before the converter add their hooks now
    sys.modules["imageworks.core.plugins"].converter_hooks()


def _is_default(attribute: attrs.Attribute[Any], value: Any) -> bool:
    default = attribute.default
    # attrs' stubs declare Factory a function returning the field's type (so that
    # ``x: list[int] = Factory(list)`` type-checks); at run time it is the class.
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory()  # type: ignore[union-attr]
    return bool(value == default)


def to_compact_dict(obj: Any) -> Any:
    """Unstructure ``obj`` leaving out known fields that hold their default value.

    Used for the registry files, so hand-kept entries stay short. Unknown keys are
    always written back, whatever their value.
    """
    if _keeps_extra(type(obj)):
        out: dict[str, Any] = {}
        for attribute in _known_fields(type(obj)):
            value = getattr(obj, attribute.name)
            if attribute.default is attrs.NOTHING or not _is_default(attribute, value):
                out[attribute.name] = to_compact_dict(value)
        out.update(obj.extra)
        return out
    if isinstance(obj, list | tuple):
        return [to_compact_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_compact_dict(v) for k, v in obj.items()}
    return converter.unstructure(obj)


def describe_structure_error(data: Any, cls: type, error: Exception) -> str:
    """One short line naming the fields of ``data`` that failed to structure as ``cls``
    (``error``, the fast converter's failure): the structuring is run again by a copy of
    the converter, plugins' hooks included, with cattrs' detailed validation."""
    try:
        converter.copy(detailed_validation=True).structure(data, cls)
    except cattrs.BaseValidationError as detailed:
        return "; ".join(cattrs.transform_error(detailed))
    except Exception as other:
        return str(other)
    return str(error)
