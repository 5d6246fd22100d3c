"""The stack program: config in, one component per workspace, per-workspace exports.

`__main__.py` calls `main()`. Validation happens before anything is registered;
a bad config ends the program with one message (a `pulumi.RunError`, which the
Pulumi Python host prints without a traceback).
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable
from typing import Any

import pulumi
from pydantic.alias_generators import to_camel

from .args import WorkspaceArgs
from .config import ConfigError, KubernetesConfig, StackConfig, WorkspaceConfig, load_stack_config

PROJECT = "docker-in-workspaces"
CONFIG_KEYS = ("target", "allowInsecure", "workspaces", "kubernetes")


def project_config_keys() -> set[str]:
    """Every config key of this project's namespace that the engine handed the program."""
    keys = set(pulumi.runtime.config.CONFIG.get())
    keys |= set(json.loads(os.environ.get("PULUMI_CONFIG") or "{}"))
    prefix = f"{PROJECT}:"
    return {key.removeprefix(prefix) for key in keys if key.startswith(prefix)}


def read_raw_config() -> dict[str, Any]:
    """The project's config keys as plain data, read the way `pulumi` hands them to the program.

    Read raw (not via Config.get_object) because a nested `secure:` value makes the whole
    key secret; the components re-wrap the sensitive fields (tokens, credentials) as secrets.
    """
    raw: dict[str, Any] = {}
    for key in project_config_keys() - set(CONFIG_KEYS):
        raw[key] = pulumi.runtime.get_config(f"{PROJECT}:{key}")  # unknown: the model rejects it by name
    for key in CONFIG_KEYS:
        value = pulumi.runtime.get_config(f"{PROJECT}:{key}")
        if value is None:
            continue
        if key == "target":
            raw[key] = value
            continue
        if key == "allowInsecure" and value in ("true", "false"):
            raw[key] = value == "true"
            continue
        try:
            raw[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(
                f"invalid stack config:\n  {key}: expected a YAML object or list, got {value!r}"
            ) from None
    return raw


def workspace_args(ws: WorkspaceConfig, stack_allow_insecure: bool = False) -> WorkspaceArgs:
    """Config (camelCase, validated) to component args (snake_case); unset fields stay unset."""
    args: dict[str, Any] = ws.model_dump(exclude_none=True, exclude={"name", "envbuilder", "coder_agent"})
    args["allow_insecure"] = stack_allow_insecure if ws.allow_insecure is None else ws.allow_insecure
    if not args.get("env"):
        args.pop("env", None)
    if ws.envbuilder is not None:
        args["envbuilder"] = ws.envbuilder.model_dump(exclude_none=True)
    if ws.coder_agent is not None:
        args["coder_agent"] = ws.coder_agent.model_dump()
    return args  # type: ignore[return-value]


Exports = dict[str, dict[str, pulumi.Output[Any]]]


def _docker_target(config: StackConfig) -> Exports:
    from .docker_host import DockerHostWorkspace

    exports: Exports = {}
    for ws in config.workspaces:
        component = DockerHostWorkspace(ws.name, workspace_args(ws, config.allow_insecure))
        exports[ws.name] = {
            "strategy": pulumi.Output.from_input(ws.strategy.value),
            "dockerHost": component.docker_host,
            "securityLevel": component.security_level,
            "containerName": component.container_name,
            "volumeNames": component.volume_names,
            "running": component.running,
        }
    return exports


def kubernetes_args(config: StackConfig) -> dict[str, dict[str, Any]]:
    """Each workspace's args merged with the stack's `kubernetes:` settings block."""
    settings = (config.kubernetes or KubernetesConfig()).model_dump(exclude_none=True)
    return {ws.name: {**workspace_args(ws, config.allow_insecure), **settings} for ws in config.workspaces}


def _kubernetes_target(config: StackConfig) -> Exports:
    from .kubernetes import KubernetesWorkspace, shared_resources

    # Namespaces and RuntimeClasses are shared by workspaces: created once, here.
    shared = shared_resources(kubernetes_args(config))  # type: ignore[arg-type]
    exports: Exports = {}
    for ws in config.workspaces:
        component = KubernetesWorkspace(
            ws.name, shared.args[ws.name], pulumi.ResourceOptions(depends_on=shared.dependencies[ws.name])
        )
        exports[ws.name] = {
            "strategy": pulumi.Output.from_input(ws.strategy.value),
            "dockerHost": component.docker_host,
            "securityLevel": component.security_level,
            "podSecurityLevel": component.pod_security_level,
            "namespace": component.namespace,
            "deploymentName": component.deployment_name,
        }
    return exports


TARGETS: dict[str, Callable[[StackConfig], Exports]] = {
    "docker": _docker_target,
    "kubernetes": _kubernetes_target,
}


def camel_field(message: str) -> str:
    """`allow_insecure: ...` from the components reads `allowInsecure: ...` in config terms."""
    field, sep, rest = message.partition(": ")
    if not sep or " " in field:
        return message
    return ".".join(to_camel(part) if part.islower() else part for part in field.split(".")) + sep + rest


def check_all(config: StackConfig) -> None:
    """Resolve every workspace's args before registering anything, so one bad one deploys nothing."""
    from .args import resolve
    from .kubernetes import resolve_kubernetes

    merged = kubernetes_args(config) if config.target == "kubernetes" else {}
    for index, ws in enumerate(config.workspaces):
        try:
            if config.target == "kubernetes":
                resolve_kubernetes(ws.name, merged[ws.name])  # type: ignore[arg-type]
            else:
                resolve(ws.name, workspace_args(ws, config.allow_insecure))
        except ValueError as exc:
            raise ConfigError(f"invalid stack config:\n  workspaces[{index}].{camel_field(str(exc))}") from None


GC_THRESHOLDS = (100_000, 100, 100)
"""Young collection every 100k allocations (CPython's default: 700), older ones 100x rarer (default: 10x)."""
_gc_tuned = False


def tune_gc() -> None:
    """Make CPython's cyclic garbage collector cheap for one program run. Called by the entry points.

    Registering a big stack allocates millions of objects (Outputs, futures, protobuf messages) that stay alive
    until the run ends: with the default thresholds the collector rescans them over and over and found nothing
    worth it. Measured here on 1000 Docker-host workspaces (5401 resources, benchmarks/bench.py --program-only):
    the program's wall time went from about 36 s to about 25 s, peak memory unchanged (about 655 MiB).
    `freeze()` moves what exists after the imports (modules, classes: never garbage) out of every later scan.
    Once per process: the tests run the program many times in one interpreter.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()  # nothing collectable gets frozen
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def main() -> None:
    try:
        config = load_stack_config(read_raw_config())
        check_all(config)
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    pulumi.export("target", config.target)
    pulumi.export("workspaces", TARGETS[config.target](config))
