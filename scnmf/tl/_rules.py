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

from .. import _keys as C


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
    """An integer ≥ ``minimum`` (``bool`` is not an integer here; nor is ``2.0``)."""

    minimum: int = 1
    fix: str = ""

    @property
    def valid(self) -> str:
        return f"integers ≥ {self.minimum}"

    def __call__(self, value: Any, name: str) -> int:
        if not is_integer(value) or value < self.minimum:
            raise self.reject(value, name, self.fix)
        return int(value)


@dataclass(frozen=True)
class Real(Rule):
    """A finite number ≥ ``minimum`` (> when ``strict``), below ``maximum`` when one is given.

    ``maximum`` is exclusive (``step < 2``) unless ``closed`` (``density_threshold ≤ 2``);
    ``bool`` and strings are not numbers here.
    """

    minimum: float = 0.0
    strict: bool = False
    fix: str = ""
    maximum: float | None = None
    closed: bool = False

    @property
    def valid(self) -> str:
        if self.maximum is not None and self.strict and self.closed:
            return f"finite numbers in ({self.minimum:g}, {self.maximum:g}]"
        low = f"finite numbers {'>' if self.strict else '≥'} {self.minimum:g}"
        high = f"{'≤' if self.closed else '<'} {self.maximum:g}" if self.maximum is not None else ""
        return f"{low} and {high}" if high else low

    def __call__(self, value: Any, name: str) -> float:
        if isinstance(value, str | bytes | bool | np.bool_):
            raise self.reject(value, name, self.fix)
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise self.reject(value, name, self.fix) from None
        if not np.isfinite(v) or v < self.minimum or (self.strict and v == self.minimum):
            raise self.reject(value, name, self.fix)
        if self.maximum is not None and (
            v > self.maximum or (v == self.maximum and not self.closed)
        ):
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


#: Seeds are 32-bit unsigned integers, as numpy's ``RandomState`` and scikit-learn take them.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Seed(Rule):
    """A seed: ``None``, an integer 0 … 2³² − 1, or a numpy ``Generator``/``RandomState``.

    As in scanpy, a generator is accepted: one integer seed is drawn from it (advancing it
    by one draw), so the same generator state gives the same fit; the drawn seed is what is
    recorded in ``params``. ``None`` means fresh entropy (not reproducible).
    """

    valid: str = (
        f"None, integers 0 … {MAX_SEED}, a numpy.random.Generator or a numpy.random.RandomState"
    )

    def __call__(self, value: Any, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, np.random.Generator):
            return int(value.integers(0, MAX_SEED, endpoint=True))
        if isinstance(value, np.random.RandomState):
            return int(value.randint(0, MAX_SEED, dtype=np.int64))
        if not is_integer(value):
            raise self.reject(value, name, "Pass an integer seed such as random_state=0.")
        if not 0 <= value <= MAX_SEED:
            raise self.reject(
                value, name, f"Seeds are nonnegative 32-bit integers; pass e.g. {name}=0."
            )
        return int(value)


@dataclass(frozen=True)
class Key(Rule):
    """A non-empty string (``None`` too when ``optional``); ``error`` is what is raised.

    A ``written`` key names where a result is stored (``key_added``; ``persistence_key``,
    which ``tl.pnmf`` fills when it is missing): it must survive ``write_h5ad`` /
    ``read_h5ad`` (:func:`scnmf._keys.key_problem`: no ``'/'``, backslash, control
    characters or leading ``'.'``) and must not replace one of scanpy's own records or
    embeddings (:func:`scnmf._keys.scanpy_collision`). This is the one check of every
    ``tl`` function's output keys, made before any work.
    """

    optional: bool = False
    what: str = "non-empty strings"
    error: type[Exception] = ValueError
    written: bool = False

    @property
    def valid(self) -> str:
        if self.written:
            return (
                f"{self.what} without '/', '\\', control characters or a leading '.', "
                "other than scanpy's own keys"
            )
        return f"None or {self.what}" if self.optional else self.what

    def __call__(self, value: Any, name: str) -> str | None:
        if value is None and self.optional:
            return None
        if not isinstance(value, str) or not value:
            fix = f"Pass a name such as {name}='result_1'." if self.written else ""
            raise option_error(name, value, self.valid, fix=fix, error=self.error)
        if self.written:
            problem = C.key_problem(value)
            if problem:
                fix = f"{problem}. Pass e.g. {name}={C.safe_key(value)!r}."
                raise option_error(name, value, self.valid, fix=fix, error=ValueError)
            replaced = C.scanpy_collision(value)
            if replaced:
                fix = (
                    f"The result would replace {replaced}. Choose another name, e.g. "
                    f"{name}={value + '_scnmf'!r}."
                )
                raise option_error(name, value, self.valid, fix=fix, error=ValueError)
        return str(value)


def key_added_not_input(o: SimpleNamespace) -> None:
    """A table check: ``key_added`` must not overwrite what the call reads.

    ``tl.pnmf`` reads ``uns[persistence_key]`` and ``tl.gnmf`` ``obsm[use_rep]``; a result
    stored there would replace the call's own input (and a persistence record computed
    by ``tl.pnmf`` would be written to the same key as its result).
    """
    key = o.key_added
    inputs = []
    if getattr(o, "persistence_key", None) == key:
        inputs.append(f"adata.uns[{key!r}] (persistence_key, its persistence record)")
    if getattr(o, "use_rep", None) == C.obsm_key(key):
        inputs.append(f"adata.obsm[{C.obsm_key(key)!r}] (use_rep, its representation)")
    if inputs:
        raise option_error(
            "key_added",
            key,
            "keys other than those the call reads",
            fix=f"The result would overwrite the call's own input {' and '.join(inputs)}. "
            f"Pass another key_added, e.g. key_added={key + '_result'!r}.",
        )


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
            raise self.reject(value, name, getattr(self.rule, "fix", "")) from None


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
    """One function's table: a rule per parameter and the constraints between them.

    ``context`` names parameters that have no rule of their own (the AnnData, ``copy``,
    starting factors) but that the ``checks`` read: they are passed through unchanged.
    """

    rules: Mapping[str, Rule]
    checks: tuple[Check, ...] = ()
    context: tuple[str, ...] = ()

    def validate(self, values: Mapping[str, Any]) -> SimpleNamespace:
        """Check every tabled parameter of ``values`` (a call's ``locals()``), in table order.

        Returns the normalised values as attributes (β as a number, ``None`` options as
        ``{}`` where documented, …), plus the ``context`` values as passed. Raises
        ``ValueError`` (``TypeError`` where a rule says so) through :func:`option_error`.
        """
        out = SimpleNamespace(
            **{name: rule(values[name], name) for name, rule in self.rules.items()}
        )
        for name in self.context:
            if name in values:
                setattr(out, name, values[name])
        for check in self.checks:
            check(out)
        return out
