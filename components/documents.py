"""What rendered files are made of: secrets as the placeholder, the mocks' floats as ints, deterministic YAML.

Shared by the Kubernetes manifests (components/render.py) and the compose file (components/compose.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import yaml

from .recording import is_secret

PLACEHOLDER = "[secret]"
"""What every secret value renders as."""

# --- secrets ------------------------------------------------------------------------------------------------------


def map_tree(value: Any, leaf: Callable[[Any], Any], secret: Optional[Callable[[Any], Any]] = None) -> Any:
    """`value` with its maps and lists kept and every other value replaced by `leaf(value)`; with `secret`, a
    secret-wrapped value is replaced by `secret(its value)`."""
    if secret is not None and is_secret(value):
        return secret(value.get("value"))
    if isinstance(value, dict):
        return {k: map_tree(v, leaf, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [map_tree(v, leaf, secret) for v in value]
    return leaf(value)


def _blank(value: Any) -> Any:
    """A secret value's shape with every leaf the placeholder: a secret map keeps its keys, so that e.g. a
    Kubernetes Secret's `stringData` stays a map of the (non-secret) names the pod spec refers to."""
    return map_tree(value, lambda _: PLACEHOLDER, _blank)


def redact(value: Any) -> Any:
    """Raw inputs with every secret-wrapped value replaced by the placeholder (maps and lists keep their shape)."""
    return map_tree(value, lambda leaf: leaf, _blank)


def ints(value: Any) -> Any:
    """The mocks hand numbers back as floats; manifests and compose files want integers."""
    return map_tree(value, lambda leaf: int(leaf) if isinstance(leaf, float) and leaf.is_integer() else leaf)


# --- YAML ---------------------------------------------------------------------------------------------------------


class Octal(int):
    """A file mode, written the way compose files spell it (0555)."""


ALIASED_TEXT_MIN = 1000
"""Multi-line strings at least this long (the inlined start script) are written once, then referred to by a
YAML alias (`&id001` ... `*id001`), when the same object appears again: see `share_long_text`."""


def _ignore_aliases(self: Any, data: Any) -> bool:
    if isinstance(data, str) and len(data) >= ALIASED_TEXT_MIN and "\n" in data:
        return False
    return yaml.SafeDumper.ignore_aliases(self, data)  # type: ignore[no-any-return]


_PureDumper: Any = type("_PureDumper", (yaml.SafeDumper,), {"ignore_aliases": _ignore_aliases})
"""The pure-Python emitter: the reference output (tests check libyaml's against it)."""
_Dumper: Any = type("_Dumper", (getattr(yaml, "CSafeDumper", yaml.SafeDumper),), {"ignore_aliases": _ignore_aliases})
"""libyaml's emitter when PyYAML was built with it: the same bytes, several times faster on big stacks."""
_UNLIMITED = 2**31 - 1
"""Line width: never fold (libyaml takes an int, so not float("inf"))."""


def share_long_text(value: Any, seen: Optional[dict[str, str]] = None) -> Any:
    """Equal long texts made one object, so that the dumper writes them once and aliases the rest."""
    seen = {} if seen is None else seen
    if isinstance(value, str) and len(value) >= ALIASED_TEXT_MIN and "\n" in value:
        return seen.setdefault(value, value)
    if isinstance(value, dict):
        return {k: share_long_text(v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [share_long_text(v, seen) for v in value]
    return value


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:  # scripts stay readable (and diffable line by line)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


def _represent_octal(dumper: yaml.SafeDumper, value: Octal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:int", f"0{int(value):o}")


for _dumper in (_PureDumper, _Dumper):
    _dumper.add_representer(str, _represent_str)
    _dumper.add_representer(Octal, _represent_octal)


def dump_yaml(document: Any, dumper: Any = None) -> str:
    return yaml.dump(  # type: ignore[no-any-return]
        document,
        Dumper=dumper or _Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=_UNLIMITED,
    )
