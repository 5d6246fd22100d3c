"""The stack program: config in, one component per workspace, per-workspace exports.

`__main__.py` calls `main()`. Validation happens before anything is registered;
a bad config ends the program with one message (a `pulumi.RunError`, which the
Pulumi Python host prints without a traceback).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
from collections.abc import Callable
from typing import Any

import pulumi

from .config import ConfigError, StackConfig, load_stack_config

PROJECT = "docker-in-workspaces"
CONFIG_KEYS = ("target", "allowInsecure", "workspaces", "kubernetes")


def project_config_keys() -> set[str]:
    """Every config key of this project's namespace that the engine handed the program."""
    keys = set(pulumi.runtime.config.CONFIG.get())
    keys |= set(json.loads(os.environ.get("PULUMI_CONFIG") or "{}"))
    prefix = f"{PROJECT}:"
    return {key.removeprefix(prefix) for key in keys if key.startswith(prefix)}


def secret_config_keys() -> set[str]:
    """The project's config keys that the engine marks secret (a nested `secure:` value makes its key one)."""
    from_env = set(pulumi.runtime.config.get_config_secret_keys_env())
    return {
        key
        for key in CONFIG_KEYS
        if pulumi.runtime.config.is_config_secret(f"{PROJECT}:{key}") or f"{PROJECT}:{key}" in from_env
    }


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


Exports = dict[str, dict[str, pulumi.Output[Any]]]


def _docker_target(config: StackConfig) -> Exports:
    from .docker_host import DockerHostWorkspace

    exports: Exports = {}
    for ws in config.workspaces:
        component = DockerHostWorkspace(ws.name, ws.resolved.args, resolved=ws.resolved)
        exports[ws.name] = {
            "strategy": component.strategy,
            "dockerHost": component.docker_host,
            "securityLevel": component.security_level,
            "containerName": component.container_name,
            "volumeNames": component.volume_names,
            "running": component.running,
        }
    return exports


def _kubernetes_target(config: StackConfig) -> Exports:
    from .kubernetes import KubernetesWorkspace, shared_resources_of

    # Namespaces and RuntimeClasses are shared by workspaces: created once, here.
    shared = shared_resources_of({ws.name: ws.resolved for ws in config.workspaces})
    exports: Exports = {}
    for ws in config.workspaces:
        resolved = dataclasses.replace(
            ws.resolved,
            kubernetes=dataclasses.replace(ws.resolved.kubernetes, create_namespace=False, create_runtime_class=False),
        )
        component = KubernetesWorkspace(
            ws.name,
            resolved.args,
            pulumi.ResourceOptions(depends_on=shared.dependencies[ws.name]),
            resolved=resolved,
        )
        exports[ws.name] = {
            "strategy": component.strategy,
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


GC_THRESHOLDS = (100_000, 100, 100)
"""Young collection every 100k allocations (CPython's default: 700), older ones 100x rarer (default: 10x)."""
_gc_tuned = False


def tune_gc() -> None:
    """Make CPython's cyclic garbage collector cheap for one program run. Called by the entry points.

    Registering a big stack allocates millions of objects (Outputs, futures, protobuf messages) that stay alive
    until the run ends: with the default thresholds the collector rescans them over and over and found nothing
    worth it. Measured here on 300 Docker-host workspaces (1981 resources, benchmarks/program_run.py, one idle
    machine): the program's wall time went from 19.0 s to 10.6 s, peak RSS unchanged (412 MB both).
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
        config = load_stack_config(read_raw_config(), secret_config_keys())
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None
    pulumi.export("target", config.target)
    pulumi.export("workspaces", TARGETS[config.target](config))
