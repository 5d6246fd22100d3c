"""Checking args against their TypedDict: the one declaration of every component input.

A field's type, its constraints and its default are written once, in the args TypedDict, as `Annotated`
metadata (`Between`, `Matches`, `Default`, the `"secret"` marker); `check()` walks a value against that
declaration and returns the args with defaults filled in, or raises `FieldError` naming the field.

The same walk reads Python args (snake_case keys) and stack config (camelCase keys): `Spelling` says which,
so every message names the field the way its caller wrote it.
"""

import difflib
import functools
import inspect
import re
import typing
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional, Union

import pulumi
from pydantic.alias_generators import to_camel
from typing_extensions import NotRequired, Required, is_typeddict

SECRET = "secret"
"""`Annotated[pulumi.Input[str], SECRET]`: kept a Pulumi secret; the schema marks it `secret: true`."""


class Key(str):
    """A key of a user's mapping (an env variable name, a node label) in a path: printed as written."""


Path = tuple[Union[str, int], ...]


@dataclass(frozen=True)
class Between:
    """A whole number from `low` to `high`."""

    low: int
    high: int


@dataclass(frozen=True)
class Matches:
    """A string the regular expression matches in full; `expected` tells the user what that means."""

    pattern: str
    expected: str

    def __post_init__(self) -> None:
        re.compile(self.pattern)


@dataclass(frozen=True)
class Default:
    """The value an unset field takes (the docs are generated from it)."""

    value: Any


NON_EMPTY = Matches(r"(?s).*\S.*", "a non-empty string")


@dataclass(frozen=True)
class Spelling:
    """How a caller spells field names: Python args (snake_case) or stack config (camelCase)."""

    camel: bool

    def key(self, name: str) -> str:
        return to_camel(name) if self.camel else name

    def path(self, path: Path) -> str:
        text = ""
        for part in path:
            if isinstance(part, int):
                text += f"[{part}]"
            elif not _PLAIN_KEY.fullmatch(part):  # a user's odd key (spaces, newlines): quoted, on one line
                text += f"[{str(part)!r}]"
            elif isinstance(part, Key):
                text += f".{part}" if text else str(part)
            else:
                text += f".{self.key(part)}" if text else self.key(part)
        return text

    def text(self, message: str) -> str:
        """Field names written in snake_case inside a message (`allow_insecure: true`), in this spelling."""
        if not self.camel:
            return message
        # Not inside quotes: a user's value is shown as they wrote it.
        parts = re.split(r"('[^']*')", message)
        return "".join(
            part if part.startswith("'") else _FIELD_WORD.sub(lambda m: to_camel(m.group(0)), part) for part in parts
        )


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
PYTHON = Spelling(camel=False)
CONFIG = Spelling(camel=True)

_FIELD_WORD = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


class FieldError(ValueError):
    """Bad input: `path` names the field, `reason` says what is wrong and how to fix it."""

    def __init__(self, path: Path, reason: str, spelling: Spelling = PYTHON):
        self.path = tuple(path)
        self.reason = reason
        self.spelling = spelling
        super().__init__(self._text())

    def _text(self) -> str:
        where = self.spelling.path(self.path)
        reason = self.spelling.text(self.reason)
        return f"{where}: {reason}" if where else reason

    def within(self, prefix: Path, spelling: Optional[Spelling] = None) -> "FieldError":
        """The same error, found inside `prefix` (e.g. `("workspaces", 2)`)."""
        return FieldError((*prefix, *self.path), self.reason, spelling or self.spelling)


# --- reading a TypedDict's declaration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDecl:
    name: str
    annotation: Any
    """The type without NotRequired and without this field's own Annotated metadata."""
    required: bool
    default: Optional[Default]
    constraints: tuple[Any, ...]
    secret: bool
    owner: type
    """The TypedDict the field was read from (its docstring may be on a base class)."""

    @property
    def doc(self) -> Optional[str]:
        """The docstring under the field. Read only when asked (docs, tests): resolving args never parses source."""
        return field_doc(self.owner, self.name)


_DECLARATIONS: dict[type, dict[str, FieldDecl]] = {}
_INPUT_NAMES = {"Output": pulumi.Output, "T": typing.TypeVar("T")}


def fields(typ: type) -> dict[str, FieldDecl]:
    """The fields of a TypedDict (inherited ones included), in declaration order."""
    cached = _DECLARATIONS.get(typ)
    if cached is not None:
        return cached
    # pulumi.Input[T] holds the forward reference "Output[T]", which the args' modules do not define.
    hints = typing.get_type_hints(typ, localns=_INPUT_NAMES, include_extras=True)
    declared: dict[str, FieldDecl] = {}
    for name, hint in hints.items():
        required, annotation = _required(hint, getattr(typ, "__total__", True))
        metadata: tuple[Any, ...] = ()
        if typing.get_origin(annotation) is typing.Annotated:
            annotation, *rest = typing.get_args(annotation)
            metadata = tuple(rest)
        default = next((m for m in metadata if isinstance(m, Default)), None)
        declared[name] = FieldDecl(
            name=name,
            annotation=annotation,
            required=required,
            default=default,
            constraints=tuple(m for m in metadata if isinstance(m, (Between, Matches))),
            secret=SECRET in metadata,
            owner=typ,
        )
    _DECLARATIONS[typ] = declared
    return declared


@functools.cache
def field_doc(typ: type, name: str) -> Optional[str]:
    """The docstring under a field, from the class that declares it."""
    import ast
    import textwrap

    for cls in _declaring_classes(typ):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
        if body is None:
            continue
        for statement, following in zip(body.body, [*body.body[1:], None], strict=True):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and statement.target.id == name
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                return inspect.cleandoc(following.value.value)
    return None


def _declaring_classes(typ: type) -> list[type]:
    # A TypedDict's own __bases__/__mro__ do not list its TypedDict bases; __orig_bases__ does.
    found: list[type] = []
    pending = [typ]
    while pending:
        cls = pending.pop(0)
        if cls in found or not is_typeddict(cls):
            continue
        found.append(cls)
        pending.extend(getattr(cls, "__orig_bases__", ()))
    return found


_NOT_REQUIRED = {NotRequired, getattr(typing, "NotRequired", NotRequired)}  # typing's own from Python 3.11
_REQUIRED = {Required, getattr(typing, "Required", Required)}


def _required(hint: Any, total: bool) -> tuple[bool, Any]:
    # From the annotation itself: __required_keys__ is wrong for string annotations before Python 3.11.
    origin = typing.get_origin(hint)
    if origin in _NOT_REQUIRED:
        return False, typing.get_args(hint)[0]
    if origin in _REQUIRED:
        return True, typing.get_args(hint)[0]
    return total, hint


# --- checking a value -----------------------------------------------------------------------------------------------


def is_unknown_yet(value: Any) -> bool:
    """An Output or awaitable: its value is known only at deployment, so only the graph can check it."""
    return isinstance(value, pulumi.Output) or inspect.isawaitable(value)


def check(value: Any, typ: type, spelling: Spelling = PYTHON, path: Path = ()) -> dict[str, Any]:
    """`value` checked against the TypedDict `typ`: keys in Python spelling, defaults filled in."""
    if not isinstance(value, Mapping):
        raise FieldError(path, f"must be a mapping of {_what(typ, spelling)}, got {value!r}", spelling)
    declared = fields(typ)
    by_spelling = {spelling.key(name): name for name in declared}
    checked: dict[str, Any] = {}
    for key, item in value.items():
        name = by_spelling.get(key) if isinstance(key, str) else None
        if name is None:
            raise FieldError((*path, Key(key)), _unknown_key(str(key), list(by_spelling)), spelling)
        if item is None:
            continue  # unset, as if left out
        decl = declared[name]
        checked[name] = _check_value(item, decl.annotation, decl.constraints, spelling, (*path, name))
    for name, decl in declared.items():
        if name in checked:
            continue
        if decl.required:
            raise FieldError((*path, name), "required", spelling)
        if decl.default is not None:
            checked[name] = decl.default.value
    return checked


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if not close:
        lowered = {a.lower().replace("_", ""): a for a in allowed}
        hit = lowered.get(key.lower().replace("_", "").replace("-", ""))
        close = [hit] if hit else []
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return f"unknown key; the keys here are: {', '.join(allowed)}"


def _what(typ: Any, spelling: Spelling) -> str:
    if is_typeddict(typ):
        names = [spelling.key(n) for n in fields(typ)]
        return "keys " + ", ".join(names)
    return getattr(typ, "__name__", str(typ))


def _check_value(value: Any, annotation: Any, constraints: tuple[Any, ...], spelling: Spelling, path: Path) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        extra = tuple(m for m in metadata if isinstance(m, (Between, Matches)))
        return _check_value(value, inner, (*constraints, *extra), spelling, path)
    if origin is Union:
        members = typing.get_args(annotation)
        if _is_input(members):
            if is_unknown_yet(value):
                return value
            plain = next(m for m in members if typing.get_origin(m) is not Awaitable and not _is_output(m))
            return _check_value(value, plain, constraints, spelling, path)
        members = tuple(m for m in members if m is not type(None))
        if len(members) == 1:
            return _check_value(value, members[0], constraints, spelling, path)
        raise TypeError(f"{annotation}: unions other than Optional and pulumi.Input are not supported")
    if is_typeddict(annotation):
        return check(value, annotation, spelling, path)
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        if not isinstance(value, list):
            raise FieldError(path, f"must be a list, got {value!r}", spelling)
        return [_check_value(item, item_type, (), spelling, (*path, index)) for index, item in enumerate(value)]
    if origin is dict:
        key_type, item_type = typing.get_args(annotation)
        if not isinstance(value, Mapping):
            raise FieldError(path, f"must be a mapping, got {value!r}", spelling)
        checked = {}
        for key, item in value.items():
            _check_value(key, key_type, (), spelling, (*path, Key(key)))
            checked[key] = _check_value(item, item_type, (), spelling, (*path, Key(key)))
        return checked
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        try:
            return annotation(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in annotation)
            raise FieldError(path, f"{value!r} is not one of: {allowed}", spelling) from None
    if annotation is bool:
        if not isinstance(value, bool):
            raise FieldError(path, f"must be true or false, got {value!r}", spelling)
        return value
    expected = next((c.expected for c in constraints if isinstance(c, Matches)), None)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            for constraint in constraints:
                _apply(constraint, -1 if isinstance(constraint, Between) else "", spelling, path, value)
            raise FieldError(path, f"must be a whole number, got {value!r}", spelling)
    elif annotation is str:
        if not isinstance(value, str):
            raise FieldError(path, f"must be {expected or 'a string'}, got {value!r}", spelling)
    elif annotation is not Any:
        raise TypeError(f"{annotation}: not a type args may declare")
    for constraint in constraints:
        _apply(constraint, value, spelling, path)
    return value


def _apply(constraint: Any, value: Any, spelling: Spelling, path: Path, shown: Any = None) -> None:
    shown = value if shown is None else shown
    if isinstance(constraint, Between) and not constraint.low <= value <= constraint.high:
        raise FieldError(
            path, f"must be a whole number from {constraint.low} to {constraint.high}, got {shown!r}", spelling
        )
    if isinstance(constraint, Matches) and not re.fullmatch(constraint.pattern, value):
        raise FieldError(path, f"must be {constraint.expected}, got {shown!r}", spelling)


def _is_output(typ: Any) -> bool:
    return (
        typ is pulumi.Output
        or typing.get_origin(typ) is pulumi.Output
        or (isinstance(typ, typing.ForwardRef) and typ.__forward_arg__.startswith("Output"))
    )


def _is_input(members: tuple[Any, ...]) -> bool:
    return any(typing.get_origin(m) is Awaitable for m in members) and any(_is_output(m) for m in members)
