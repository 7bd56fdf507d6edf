"""Config dataclasses <-> YAML, with `key=value` overrides.

Every config is a (possibly nested) dataclass. Presets live as YAML files; `--set a.b=3` overrides
a field, parsed as YAML so numbers, booleans and lists work (`--set model.dilations=[1,2]`).
Unknown keys are an error that lists the valid ones: a typo must never be ignored silently.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from echoseg.errors import EchosegError

T = TypeVar("T")


class ConfigError(EchosegError):
    pass


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a (nested) dict, checking that every key is a field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where or cls.__name__}: unknown key(s) {unknown}; valid keys: {sorted(fields)}"
        )
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        inner = _dataclass_in(tp)
        if inner is not None and isinstance(value, dict):
            kwargs[name] = from_dict(inner, value, f"{where}{name}.")
        else:
            kwargs[name] = check_type(value, tp, f"{where}{name}")
    return cls(**kwargs)


def check_type(value: Any, tp: Any, where: str) -> Any:
    """`value` as the annotated type `tp` (int, float, bool, str, Optional[...], tuple[...], list, dict),
    or ConfigError naming the key: `--set data.input_size=64` must not reach the code as an int."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return check_type(value, option, where)
            except ConfigError as exc:
                errors.append(exc)
        if len(options) == 1:
            raise errors[0]
        raise ConfigError(f"{where}: expected {' or '.join(_describe(o) for o in args)}, got {value!r}")
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads "3e-4" as a string; a float field takes it as the number it means.
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is tuple or tp is tuple:
        if isinstance(value, (list, tuple)):
            if args and args[-1] is not Ellipsis and len(value) != len(args):
                raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")
            kinds = [args[0]] * len(value) if args and args[-1] is Ellipsis else list(args) or [Any] * len(value)
            return tuple(check_type(v, k, f"{where}[{i}]") for i, (v, k) in enumerate(zip(value, kinds, strict=True)))
    elif origin is list or tp is list:
        if isinstance(value, (list, tuple)):
            return [check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)] if args else list(value)
    elif origin is dict or tp is dict:
        if isinstance(value, dict):
            return value
    elif _is_dataclass_type(tp):
        raise ConfigError(f"{where}: expected a mapping of {sorted(f.name for f in dataclasses.fields(tp))}, got {value!r}")
    else:
        return value
    raise ConfigError(f"{where}: expected {_describe(tp)}, got {value!r}")


def _describe(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple or tp is tuple:
        if args and args[-1] is Ellipsis:
            return f"a list of {_describe(args[0])}"
        return f"[{', '.join(_describe(a) for a in args)}]" if args else "a list"
    if origin in (list, dict) or tp in (list, dict):
        return "a list" if (origin or tp) is list else "a mapping"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _dataclass_in(tp: Any) -> type | None:
    if _is_dataclass_type(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if _is_dataclass_type(arg):
                return arg
    return None


def to_dict(config: Any) -> dict[str, Any]:
    """Plain dict (tuples become lists) suitable for YAML/JSON."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, Path):
            return str(value)
        return value

    return plain(config)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b=value` strings to a nested dict (values parsed as YAML)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"override {item!r}: the value is not valid YAML") from None
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Defaults of `cls`, updated by the YAML file at `path` (if any), then by `overrides`."""
    data = to_dict(cls())
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        loaded = read_yaml(path)
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        _merge(data, loaded)
    apply_overrides(data, overrides or [])
    return from_dict(cls, data)


def read_yaml(path: str | Path) -> Any:
    """The YAML document in `path` ({} when empty); a syntax error becomes one line with its place."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML: {where}{problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def _merge(base: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def dump_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)
