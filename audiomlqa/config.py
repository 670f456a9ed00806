"""One config layer for recipes, training configs and model specs: typed, validated to the leaves.

Every config is a :class:`Settings` (pydantic v2) defined next to the function that takes it, with its
defaults in its fields. A mistake anywhere in it — an unknown key two levels down, a wrong type, a value
out of range — fails in one line that names its path (``asr.beam_size: expected an integer, got 'five'``)
before anything is loaded or written. Numbers are numbers however YAML 1.1 read them (``1e-3`` is text to
it). Every command that takes a recipe or spec also takes ``key.sub=value`` overrides (:func:`apply_overrides`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import check_spoken_language

S = TypeVar("S", bound="Settings")

UNION_TAGS: set[str] = set()
"""Tags of the tagged unions below (backend and kind names): pydantic puts them in error paths; we leave them out."""


class Settings(BaseModel):
    """A config section: unknown keys are errors (a typo must never be ignored), and it can be copied as data."""

    model_config = ConfigDict(extra="forbid", frozen=False, protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.model_config.get("extra") == "forbid":
            unknown = sorted(str(k) for k in data if k not in cls.model_fields)
            if unknown:
                raise ValueError(f"unknown setting(s) {', '.join(unknown)} (known: {', '.join(cls.model_fields)})")
        return data

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


def as_validator(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A check that raises :class:`AudioMLQAError` as a pydantic validator (pydantic reports ValueErrors, with the
    path); the value passes through unchanged. Non-strings are left to pydantic's own type check."""

    def validate(value: Any) -> Any:
        if isinstance(value, str):
            try:
                check(value)
            except AudioMLQAError as e:
                raise ValueError(str(e)) from None
        return value

    return validate


Number = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
"""A finite float that YAML may have read as text (``1e-3``); never a boolean, NaN or infinity."""
Integer = Annotated[int, BeforeValidator(_no_bool)]
Language = Annotated[str, BeforeValidator(as_validator(check_spoken_language))]
"""One of MLQA's seven languages."""


def parse(cls: type[S], data: Any, where: str | None = None) -> S:
    """``cls`` built from ``data`` (a mapping), or one line naming the first problem and its path."""
    if not isinstance(data, dict):
        raise AudioMLQAError(f"{where + ': ' if where else ''}settings must be a mapping, not {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        raise AudioMLQAError(describe_error(e, where)) from None


def describe_error(error: ValidationError, where: str | None = None) -> str:
    """The first problem of a validation error as ``path: what is wrong, got what`` (+ how many more)."""
    problems = error.errors(include_url=False)
    first = problems[0]
    path = _path(first["loc"])
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    text = f"{path + ': ' if path else ''}{_message(first)}{more}"
    return f"{where}: {text}" if where else text


def _path(loc: Sequence) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":  # the mapping key itself is wrong, not its value
            out += "[key]"
        elif part in UNION_TAGS or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


_EXPECTED = {
    "int": "expected an integer",
    "float": "expected a number",
    "bool": "expected true or false",
    "string": "expected text",
    "dict": "expected a mapping",
    "list": "expected a list",
    "model": "expected a mapping",
}


def _message(problem: dict) -> str:
    kind, msg = problem["type"], problem["msg"]
    value = problem.get("input")
    got = f", got {value!r}" if isinstance(value, (str, int, float, bool)) or value is None else ""
    if kind == "missing":
        return "required, but not given"
    if kind == "int_from_float":
        return f"expected an integer, got {value!r}"
    ctx = problem.get("ctx") or {}
    if kind == "literal_error":
        return f"expected {ctx.get('expected')}{got}"
    if kind == "union_tag_invalid":
        return f"unknown choice {ctx.get('tag')!r}: expected {ctx.get('expected_tags')}"
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    for prefix, expected in _EXPECTED.items():
        if kind.startswith(prefix + "_") and kind.endswith(("_type", "_parsing")):
            return expected + got
    if kind == "model_attributes_type":
        return "expected a mapping" + got
    return msg[0].lower() + msg[1:] + got


# -- files and overrides ----------------------------------------------------------------------------


def load_yaml(path: str | Path) -> dict:
    """A recipe: a YAML mapping of settings (an empty file is an empty mapping)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AudioMLQAError(f"{path}: no such recipe") from None
    except (OSError, UnicodeDecodeError) as e:
        raise AudioMLQAError(f"{path}: cannot read it ({e.__class__.__name__})") from None
    except yaml.YAMLError as e:
        raise AudioMLQAError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AudioMLQAError(f"{path}: a recipe is a YAML mapping of settings")
    return data


def apply_overrides(data: dict, overrides: Sequence[str]) -> dict:
    """``key.sub=value`` strings (values read as YAML) applied to a copy of a nested settings mapping."""
    import copy

    import yaml

    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AudioMLQAError(f"bad override {item!r}: write key=value, e.g. max_steps=100 or model.gate=attention")
        node = data
        *parents, last = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise AudioMLQAError(f"bad override {item!r}: {p} is not a section")
        try:
            node[last] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise AudioMLQAError(f"bad override {item!r}: its value is not valid YAML") from None
    return data


def with_overrides(cls: type[S], data: dict, overrides: Sequence[str] = (), where: str | None = None) -> S:
    """``cls`` from ``data``, then ``overrides`` applied to it with every default filled in: ``thresholds.en=0.3``
    changes one language's threshold and keeps the others, ``tts.en.backend=espeak`` one language's voice."""
    config = parse(cls, data, where)
    if not overrides:
        return config
    return parse(cls, apply_overrides(config.model_dump(mode="json", exclude_none=True), overrides), where)


def load_settings(
    cls: type[S], recipe: str | Path | None = None, overrides: Sequence[str] = (), options: dict | None = None
) -> S:
    """A config from a recipe file, then command-line ``options`` (None means not given), then overrides."""
    data = load_yaml(recipe) if recipe else {}
    data.update({k: v for k, v in (options or {}).items() if v is not None})
    return with_overrides(cls, data, overrides, str(recipe) if recipe else None)
