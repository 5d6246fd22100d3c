"""Security profiles shipped with the library (package data), by name."""

from __future__ import annotations

import functools
import json
from importlib import resources


@functools.cache
def seccomp_profile(name: str) -> str:
    """The seccomp profile `name` (components/profiles/seccomp-<name>.json) as compact JSON: what Docker's
    `--security-opt seccomp=<profile>` sends to the daemon, and what a node keeps for a Localhost profile."""
    text = resources.files(__package__).joinpath(f"seccomp-{name}.json").read_text()
    return json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
