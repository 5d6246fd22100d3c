"""The stack program: config in, one component per workspace, per-workspace exports.

`__main__.py` calls `main()`. Validation happens before anything is registered;
a bad config ends the program with one message (a `pulumi.RunError`, which the
Pulumi Python host prints without a traceback).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi

from .args import WorkspaceArgs
from .config import ConfigError, StackConfig, WorkspaceConfig, load_stack_config

PROJECT = "docker-in-workspaces"
CONFIG_KEYS = ("target", "workspaces", "kubernetes")


def read_raw_config() -> dict[str, Any]:
    """The project's config keys as plain data, read the way `pulumi` hands them to the program.

    Read raw (not via Config.get_object) because a nested `secure:` value makes the whole
    key secret; the components re-wrap the sensitive fields (tokens, credentials) as secrets.
    """
    raw: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        value = pulumi.runtime.get_config(f"{PROJECT}:{key}")
        if value is None:
            continue
        if key == "target":
            raw[key] = value
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(
                f"invalid stack config:\n  {key}: expected a YAML object or list, got {value!r}"
            ) from None
    return raw


def workspace_args(ws: WorkspaceConfig) -> WorkspaceArgs:
    """Config (camelCase, validated) to component args (snake_case); unset fields stay unset."""
    args: dict[str, Any] = ws.model_dump(exclude_none=True, exclude={"name", "envbuilder", "coder_agent"})
    if not args.get("env"):
        args.pop("env", None)
    if ws.envbuilder is not None:
        args["envbuilder"] = ws.envbuilder.model_dump(exclude_none=True)
    if ws.coder_agent is not None:
        args["coder_agent"] = ws.coder_agent.model_dump()
    return args  # type: ignore[return-value]


def _docker_workspace(ws: WorkspaceConfig, config: StackConfig) -> dict[str, pulumi.Output]:
    from .docker_host import DockerHostWorkspace

    component = DockerHostWorkspace(ws.name, workspace_args(ws))
    return {
        "strategy": pulumi.Output.from_input(ws.strategy.value),
        "dockerHost": component.docker_host,
        "securityLevel": component.security_level,
        "containerName": component.container_name,
        "volumeNames": component.volume_names,
        "running": component.running,
    }


TARGETS: dict[str, Callable[[WorkspaceConfig, StackConfig], dict[str, pulumi.Output]]] = {
    "docker": _docker_workspace,
}


def check_all(config: StackConfig) -> None:
    """Resolve every workspace's args before registering anything, so one bad one deploys nothing."""
    from .args import resolve

    for index, ws in enumerate(config.workspaces):
        try:
            resolve(ws.name, workspace_args(ws))
        except ValueError as exc:
            raise ConfigError(f"invalid stack config:\n  workspaces[{index}].{exc}") from None


def main() -> None:
    try:
        config = load_stack_config(read_raw_config())
        check_all(config)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    build = TARGETS[config.target]
    pulumi.export("target", config.target)
    pulumi.export("workspaces", {ws.name: build(ws, config) for ws in config.workspaces})
