"""The rule kinds of the ``tl`` option tables, and the one error formatter.

A table (:class:`Params`) maps each parameter of a ``tl`` function to a rule; a rule
checks one value and returns it normalised (a plain ``str``, ``int``, ``float``, …).
Every rejection goes through :func:`option_error`, so messages read alike: "Invalid
option X for Y. Valid options are …", then the fix (the models: scikit-learn's
``_parameter_constraints`` and squidpy's ``ModeEnum``). The tables are in ``_validate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import numpy as np


class ModeEnum(StrEnum):
    """A string option with a fixed set of values; members compare equal to their strings."""

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The accepted strings, in declaration order."""
        return tuple(member.value for member in cls)


def listing(options: Iterable[Any], *, quote: bool = True) -> str:
    """``'a', 'b' or 'c'``: strings quoted (unless ``quote=False``), other values as written."""
    items = [repr(o) if quote and isinstance(o, str) else str(o) for o in options]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def option_error(
    name: str, value: Any, valid: str, *, fix: str = "", error: type[Exception] = ValueError
) -> Exception:
    """The exception for a rejected option: what was passed, what is accepted, the fix."""
    shown = f"{value!r}" if not isinstance(value, np.ndarray) else f"array {value.tolist()}"
    message = f"Invalid option {shown} for {name}. Valid options are {valid}."
    return error(f"{message} {fix}" if fix else message)


class Rule:
    """One parameter's constraint; ``valid`` describes the accepted values."""

    valid: str = ""

    def __call__(self, value: Any, name: str) -> Any:
        raise NotImplementedError

    def reject(self, value: Any, name: str, fix: str = "") -> Exception:
        return option_error(name, value, self.valid, fix=fix)


def is_integer(value: Any) -> bool:
    """An ``int`` or numpy integer, but not a ``bool``."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


@dataclass(frozen=True)
class Choice(Rule):
    """One of ``options`` (an enum's values or a tuple of strings)."""

    options: tuple[str, ...]
    fix: str = ""

    @property
    def valid(self) -> str:
        return listing(self.options)

    def __call__(self, value: Any, name: str) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise self.reject(value, name, self.fix)
        return str(value)


@dataclass(frozen=True)
class Integer(Rule):
    """An integer ≥ ``minimum`` (``bool`` is not an integer here)."""

    minimum: int = 1

    @property
    def valid(self) -> str:
        return f"integers ≥ {self.minimum}"

    def __call__(self, value: Any, name: str) -> int:
        if not is_integer(value) or value < self.minimum:
            raise self.reject(value, name)
        return int(value)


@dataclass(frozen=True)
class Real(Rule):
    """A finite number ≥ ``minimum`` (> ``minimum`` when ``strict``)."""

    minimum: float = 0.0
    strict: bool = False
    fix: str = ""

    @property
    def valid(self) -> str:
        return f"finite numbers {'>' if self.strict else '≥'} {self.minimum:g}"

    def __call__(self, value: Any, name: str) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise self.reject(value, name, self.fix) from None
        if not np.isfinite(v) or v < self.minimum or (self.strict and v == self.minimum):
            raise self.reject(value, name, self.fix)
        return v


@dataclass(frozen=True)
class Flag(Rule):
    """``True`` or ``False`` (also as numpy booleans or 0/1)."""

    valid: str = "True or False"

    def __call__(self, value: Any, name: str) -> bool:
        if not isinstance(value, bool | np.bool_) and not (is_integer(value) and value in (0, 1)):
            raise self.reject(value, name)
        return bool(value)


@dataclass(frozen=True)
class Seed(Rule):
    """A seed: an integer, or ``None`` for fresh entropy."""

    valid: str = "integers or None"

    def __call__(self, value: Any, name: str) -> int | None:
        if value is None:
            return None
        if not is_integer(value):
            raise self.reject(value, name)
        return int(value)


@dataclass(frozen=True)
class Key(Rule):
    """A non-empty string (``None`` too when ``optional``); ``error`` is what is raised."""

    optional: bool = False
    what: str = "non-empty strings"
    error: type[Exception] = ValueError

    @property
    def valid(self) -> str:
        return f"None or {self.what}" if self.optional else self.what

    def __call__(self, value: Any, name: str) -> str | None:
        if value is None and self.optional:
            return None
        if not isinstance(value, str) or not value:
            raise option_error(name, value, self.valid, error=self.error)
        return value


@dataclass(frozen=True)
class OrNone(Rule):
    """``None``, or a value accepted by ``rule``."""

    rule: Rule

    @property
    def valid(self) -> str:
        return f"None or {self.rule.valid}"

    def __call__(self, value: Any, name: str) -> Any:
        if value is None:
            return None
        try:
            return self.rule(value, name)
        except ValueError:
            raise self.reject(value, name) from None


@dataclass(frozen=True)
class AnyOf(Rule):
    """A value accepted by one of ``rules`` (the first that accepts it)."""

    rules: tuple[Rule, ...]

    @property
    def valid(self) -> str:
        return " or ".join(rule.valid for rule in self.rules)

    def __call__(self, value: Any, name: str) -> Any:
        for rule in self.rules:
            try:
                return rule(value, name)
            except (TypeError, ValueError):
                continue
        raise self.reject(value, name)


@dataclass(frozen=True)
class SubOptions(Rule):
    """``None`` (→ ``{}``) or a dict with keys among ``names``; ``rules`` check some values."""

    names: tuple[str, ...]
    rules: Mapping[str, Rule] = field(default_factory=dict)

    @property
    def valid(self) -> str:
        return f"None or a dict with keys among {listing(self.names)}"

    def __call__(self, value: Any, name: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.reject(value, name)
        unknown = sorted(set(value) - set(self.names), key=str)
        if unknown:
            raise self.reject(value, name, f"Unknown {name} {unknown}: remove or rename them.")
        out = dict(value)
        for key, rule in self.rules.items():
            if key in out:
                out[key] = rule(out[key], f"{name}[{key!r}]")
        return out


Check = Callable[[SimpleNamespace], None]


@dataclass(frozen=True)
class Params:
    """One function's table: a rule per parameter and the constraints between them."""

    rules: Mapping[str, Rule]
    checks: tuple[Check, ...] = ()

    def validate(self, values: Mapping[str, Any]) -> SimpleNamespace:
        """Check every tabled parameter of ``values`` (a call's ``locals()``), in table order.

        Returns the normalised values as attributes (β as a number, ``None`` options as
        ``{}`` where documented, …). Raises ``ValueError`` (``TypeError`` where a rule says
        so) through :func:`option_error`.
        """
        out = SimpleNamespace(
            **{name: rule(values[name], name) for name, rule in self.rules.items()}
        )
        for check in self.checks:
            check(out)
        return out
