"""Load a stack's config the way `pulumi` hands it to a program, and run the program under mocks.

The stacks are whatever Pulumi.<stack>.yaml files a project directory holds (the examples, or a user's own,
`secure:` values included): nothing lists them by hand.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pulumi
import yaml
from harness import PROJECT, Run, run

from components import render

ROOT = Path(__file__).resolve().parent.parent


def stack_files(project_dir: Path = ROOT) -> list[Path]:
    return sorted(project_dir.glob("Pulumi.*.yaml"))


def stack_names(project_dir: Path = ROOT) -> list[str]:
    return [stack_name(path) for path in stack_files(project_dir)]


def stack_name(path: Path) -> str:
    return path.name.removeprefix("Pulumi.").removesuffix(".yaml")


def engine_config(stack_config: dict[str, Any]) -> dict[str, str]:
    """Pulumi.yaml defaults + the stack's values, keys namespaced, objects as JSON strings."""
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    merged: dict[str, Any] = {}
    for key, spec in (project.get("config") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            merged[f"{PROJECT}:{key}"] = spec["default"]
    for key, value in (stack_config or {}).items():
        merged[key if ":" in key else f"{PROJECT}:{key}"] = value
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in merged.items()}


def secure_values(value: Any) -> tuple[Any, bool]:
    """`{"secure": x}` (a stack file's encrypted value; here the plaintext for the test) as the engine hands it to
    the program: the value, and whether it made its key secret."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return value["secure"], True
        pairs = {key: secure_values(item) for key, item in value.items()}
        return {key: pair[0] for key, pair in pairs.items()}, any(pair[1] for pair in pairs.values())
    if isinstance(value, list):
        items = [secure_values(item) for item in value]
        return [item[0] for item in items], any(item[1] for item in items)
    return value, False


def run_program(stack_config: dict[str, Any], stack: str = "test") -> Run:
    """Run the stack program with `stack_config`; `{"secure": x}` values make their key secret, as in a stack file."""
    plain: dict[str, Any] = {}
    secret_keys = []
    for key, value in stack_config.items():
        plain[key], secret = secure_values(value)
        if secret:
            secret_keys.append(key if ":" in key else f"{PROJECT}:{key}")
    config = engine_config(plain)

    def program():
        pulumi.runtime.set_all_config(config, secret_keys)
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        return pulumi.runtime.get_root_resource().outputs  # the stack's exports

    return run(program, stack=stack)


def run_stack_file(path: Path) -> Run:
    """The program of the stack file's project with that stack's config, read as the renderer reads it:
    a `secure:` value (never decrypted: no passphrase here) becomes a secret placeholder."""
    project = render.load_project(path.parent.resolve())
    config, secret_keys = render.load_stack_config(project, stack_name(path))

    def program():
        pulumi.runtime.set_all_config(config, secret_keys)
        runpy.run_path(str(project.main), run_name="__main__")
        return pulumi.runtime.get_root_resource().outputs

    return run(program, stack=stack_name(path))
