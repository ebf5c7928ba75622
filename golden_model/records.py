"""Typed records written to and read from JSON through one schema, with a name and a version.

    @dataclass
    class Point(Record):
        SCHEMA = "zskip.point/1"          # a document of its own: the key "schema" is written with it
        x: float
        label: str | None = None

    Point(1.5).write(path)                # {"schema": "zskip.point/1", "x": 1.5, "label": null}
    p = Point.read(path)                  # a Point again, its fields checked against their types

:func:`to_dict` and :func:`from_dict` recurse over nested dataclasses, lists, tuples and dicts of them,
guided by the fields' type annotations (``int``, ``float``, ``bool``, ``str``, ``X | None``,
``list[X]``, ``tuple[X, ...]``, ``dict[str, X]``, a dataclass, or ``object`` for anything JSON holds).
Reading checks every field: one that is missing (and has no default), of the wrong type, or a
document of another schema or version raises :class:`RecordError`, whose message names the file and
the field. A document without a ``"schema"`` key was written before versions were recorded: it is read
as version 1 of its class's schema (and refused when the class is past version 1). Keys a class does
not know are ignored, so that a later version may add keys that an older reader skips.
"""

import json
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

import numpy as np

from .errors import ZskipError

__all__ = ["Record", "RecordError", "to_dict", "from_dict", "load_json"]


class RecordError(ZskipError, ValueError):
    """A JSON document that is not a readable record: invalid JSON, another schema or version, or a field
    that is missing or malformed (the message names the file and the field)."""


class Record:
    """Base of a dataclass that is written to and read from JSON (see the module docstring).

    ``SCHEMA``, on a class that is a document of its own, is ``"zskip.<name>/<version>"``."""

    SCHEMA = None

    def to_dict(self):
        """The record as JSON-ready data (with ``"schema"`` first on a document)."""
        return to_dict(self)

    @classmethod
    def from_dict(cls, data, *, source=None):
        """The record of ``data``; ``source`` (a path) names it in errors."""
        return from_dict(cls, data, source=source)

    def write(self, path, *, leave_out=()):
        """Write the record to ``path`` as JSON, without the fields named in ``leave_out``."""
        data = {k: v for k, v in self.to_dict().items() if k not in leave_out}
        Path(path).write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def read(cls, path):
        """The record in the JSON file ``path``."""
        return from_dict(cls, load_json(path), source=path)


def to_dict(value):
    """JSON-ready data of a record (dataclass), list, tuple or dict of them, NumPy scalar or array."""
    if is_dataclass(value) and not isinstance(value, type):
        out = {"schema": value.SCHEMA} if getattr(value, "SCHEMA", None) else {}
        out.update((f.name, to_dict(getattr(value, f.name))) for f in fields(value))
        return out
    if isinstance(value, dict):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dict(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def load_json(path):
    """The JSON data in ``path``; RecordError when the file cannot be read or is not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise RecordError(f"cannot read {path}: {e.strerror or e}") from None
    except ValueError as e:              # JSONDecodeError, UnicodeDecodeError
        raise RecordError(f"{path} is not valid JSON ({e})") from None


def from_dict(cls, data, *, source=None):
    """The record ``cls`` of ``data`` (a dict, as :func:`to_dict` makes it), every field checked; ``source`` (a
    path) names the document in errors."""
    where = str(source) if source is not None else f"a {_schema_name(cls) or cls.__name__} record"
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected a JSON object, not {_shown(data)}")
    _check_schema(cls, data, where)
    return _record(cls, data, "", where)


def _schema_name(cls):
    return (getattr(cls, "SCHEMA", None) or "").rpartition("/")[0]


def _check_schema(cls, data, where):
    want = getattr(cls, "SCHEMA", None)
    if not want:
        return
    got = data.get("schema")
    if got is None:
        if want.endswith("/1"):
            return                       # written before versions were recorded: version 1
        raise RecordError(f"{where}: has no \"schema\" key (written before schema versions); this zskip reads {want}")
    if got != want:
        raise RecordError(f"{where}: is a {_shown(got)} document; this zskip reads {want}")


def _record(cls, data, path, where):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in fields(cls):
        if not f.init:
            continue
        name = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise RecordError(f"{where}: field '{name}' is missing")
            continue
        kwargs[f.name] = _value(hints[f.name], data[f.name], name, where)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:   # the record's own checks (a ConfigError is a ValueError)
        raise RecordError(f"{where}: {path or cls.__name__}: {e}") from None


def _value(tp, value, name, where):
    """``value`` checked against (and built as) the type ``tp``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in (object, typing.Any):
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        alternatives = [a for a in args if a is not type(None)]
        if len(alternatives) == 1:                # X | None: X's own error, which names the inner field
            return _value(alternatives[0], value, name, where)
        for alternative in alternatives:
            try:
                return _value(alternative, value, name, where)
            except RecordError:
                continue
        raise RecordError(f"{where}: field '{name}' must be {_type_name(tp)}, not {_shown(value)}")
    if is_dataclass(tp):
        _expect(isinstance(value, dict), tp, value, name, where)
        return _record(tp, value, name, where)
    if (origin or tp) in (list, tuple):
        _expect(isinstance(value, (list, tuple)), tp, value, name, where)
        if (origin or tp) is list or (args and args[-1] is Ellipsis):
            item = args[0] if args else object
            items = [_value(item, v, f"{name}[{i}]", where) for i, v in enumerate(value)]
        else:
            _expect(not args or len(args) == len(value), tp, value, name, where)
            items = [_value(args[i] if args else object, v, f"{name}[{i}]", where) for i, v in enumerate(value)]
        return items if (origin or tp) is list else tuple(items)
    if (origin or tp) is dict:
        _expect(isinstance(value, dict), tp, value, name, where)
        item = args[1] if args else object
        return {k: _value(item, v, f"{name}.{k}", where) for k, v in value.items()}
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str)}.get(tp)
    if ok is None:
        raise TypeError(f"records cannot read fields of type {tp!r} ('{name}')")
    _expect(ok(value), tp, value, name, where)
    return value


def _expect(ok, tp, value, name, where):
    if not ok:
        raise RecordError(f"{where}: field '{name}' must be {_type_name(tp)}, not {_shown(value)}")


def _type_name(tp):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in args)
    if is_dataclass(tp):
        return f"an object ({tp.__name__})"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
            tuple: "a list", dict: "an object"}.get(origin or tp, str(tp))


def _shown(value):
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
