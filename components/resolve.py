"""One resolve for every target: args checked against their declaration, then turned into a plan.

`resolve_workspace()` does what every target shares (the fields of `WorkspaceArgs`); each target's
own fields are resolved by its adapter's args module, with the same `FieldError`s. Stack config
goes through the same functions, with `spelling=CONFIG`.
"""

import base64
import binascii
import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .args import DNS1123_LABEL, WorkspaceArgs
from .fields import PYTHON, FieldError, Path, Spelling, check
from .security import INSECURE_LEVELS, LEVEL_ORDER, SecurityLevel, security_level, security_reason
from .strategies import StrategyOptions, WorkspacePlan, plan
from .strategies.spec import DaemonKind, StrategyError
from .strategy import Strategy
from .workload import CoderAgentSettings, DaemonSettings, EnvbuilderSettings, WorkloadSettings
from .workload import validate as validate_workload


@dataclass(frozen=True)
class ResolvedWorkspace:
    """Args checked and turned into the target-neutral pieces the adapters use."""

    name: str
    plan: WorkspacePlan
    workload: WorkloadSettings
    daemon: DaemonSettings
    running: bool
    args: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)
    """The checked args (Python keys, defaults filled) this was resolved from."""


def safer_strategies(options: StrategyOptions) -> list[tuple[Strategy, SecurityLevel]]:
    """Strategies whose plans (with the same options) need no acknowledgement, safest first: those both targets
    can build, so that a mistake gets the same message from either component (dind-userns is Kubernetes-only)."""
    found = []
    for candidate in Strategy:
        try:
            candidate_plan = plan(candidate, options)
        except ValueError:
            continue  # e.g. dood without a socket GID: never safer anyway
        if candidate_plan.kubernetes_only:
            continue
        candidate_level = security_level(candidate_plan)
        if candidate_level not in INSECURE_LEVELS:
            found.append((candidate, candidate_level))
    return sorted(found, key=lambda pair: -LEVEL_ORDER.index(pair[1]))


def refuse_insecure(name: str, workspace_plan: WorkspacePlan, options: StrategyOptions) -> None:
    """Insecure strategies never happen by accident: rated none/low needs allow_insecure."""
    level = security_level(workspace_plan)
    if level not in INSECURE_LEVELS:
        return
    safer = ", ".join(f"{s.value} ({lvl.value})" for s, lvl in safer_strategies(options))
    raise FieldError(
        ("allow_insecure",),
        f"workspace {name!r} uses strategy {workspace_plan.strategy.value}, security level {level.value} "
        f"({security_reason(workspace_plan)}); acknowledge it with allow_insecure: true, "
        f"or use a safer strategy: {safer}",
    )


def _as_envbuilder_workspace(workspace_plan: WorkspacePlan) -> WorkspacePlan:
    """Envbuilder rewrites the container's filesystem while it builds, so its container runs
    as root; a plan whose workspace must run as another user cannot use it."""
    workspace = workspace_plan.workspace
    if workspace.nested is not None:
        raise FieldError(
            ("envbuilder",),
            f"{workspace_plan.strategy.value} pulls the workspace image with its own daemon inside the outer container "
            "and runs it unchanged as a nested container, so Envbuilder cannot build it in place; build the image "
            "with Envbuilder first (e.g. into its cache_repo) and give it as image, or use envbuilder with sysbox "
            "or dind",
        )
    if workspace.daemon is not None and workspace.daemon.kind in (DaemonKind.ROOTLESS, DaemonKind.PODMAN):
        engine = "rootless Podman" if workspace.daemon.kind == DaemonKind.PODMAN else "rootless dockerd"
        raise FieldError(
            ("envbuilder",),
            f"Envbuilder runs as root to build the image, and {engine} must not run as root; use strategy "
            f"sysbox or dind with envbuilder, or {workspace_plan.strategy.value} without it",
        )
    if workspace.runs_as_root:
        return workspace_plan
    # dind-sidecar: the workspace is unprivileged either way; only its user changes.
    as_root = dataclasses.replace(workspace, run_as_user=None)
    return dataclasses.replace(
        workspace_plan, containers=tuple(as_root if c is workspace else c for c in workspace_plan.containers)
    )


def _is_base64_json(text: str) -> bool:
    try:
        json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        return False
    return True


def validate_name(name: Any, path: Path = ("name",), spelling: Spelling = PYTHON) -> str:
    """A workspace or namespace name: a DNS-1123 label (it becomes container, volume and object names)."""
    if not isinstance(name, str) or not re.fullmatch(DNS1123_LABEL.pattern, name):
        raise FieldError(path, f"must be {DNS1123_LABEL.expected}, got {name!r}", spelling)
    return name


def resolve_workspace(
    name: str, args: Mapping[str, Any], spelling: Spelling = PYTHON, args_type: type = WorkspaceArgs
) -> ResolvedWorkspace:
    """Check `args` against `args_type` (WorkspaceArgs or a target's subclass of it) and build the plan.

    The result's `args` are the checked args (Python keys, defaults filled), the target's own fields included.
    Raises FieldError naming the field in `spelling`."""
    with located(spelling):
        return _resolve(name, check(args, args_type, spelling))


@contextlib.contextmanager
def located(spelling: Spelling) -> Iterator[None]:
    """FieldErrors raised inside (by rules that do not know their caller) come out in `spelling`."""
    try:
        yield
    except FieldError as error:
        raise error.within((), spelling) from None
    except StrategyError as error:  # a strategy module's own check of its options
        raise FieldError((error.field,), error.reason, spelling) from None


def _resolve(name: str, args: dict[str, Any]) -> ResolvedWorkspace:
    validate_name(name)
    options = StrategyOptions(
        home_path=args["home_path"],
        dind_image=args["dind_image"],
        docker_socket_gid=args.get("docker_socket_gid"),
        daemon_socket_gid=args["daemon_socket_gid"],
        runtime=args["runtime"],
        app_armor=args["app_armor_profile"],
        envbox_image=args["envbox_image"],
        inner_username=args["envbox_inner_username"],
        add_fuse=args["envbox_add_fuse"],
        add_tun=args["envbox_add_tun"],
    )
    workspace_plan = plan(args["strategy"], options)
    builder = args.get("envbuilder")
    agent = args.get("coder_agent")
    if builder is not None:
        workspace_plan = _as_envbuilder_workspace(workspace_plan)
    if not args["allow_insecure"]:
        refuse_insecure(name, workspace_plan, options)
    credentials = builder.get("docker_config_base64") if builder is not None else None
    if isinstance(credentials, str) and not _is_base64_json(credentials):
        raise FieldError(
            ("envbuilder", "docker_config_base64"),
            "not a base64-encoded Docker config.json; make it with `base64 -w0 ~/.docker/config.json`",
        )
    workload = WorkloadSettings(
        image=args.get("image"),
        command=args.get("command"),
        env=dict(args.get("env") or {}),
        envbuilder=EnvbuilderSettings(
            git_url=builder["git_url"],
            image=builder["image"],
            devcontainer_dir=builder.get("devcontainer_dir"),
            init_script=builder.get("init_script"),
            fallback_image=builder.get("fallback_image"),
            cache_repo=builder.get("cache_repo"),
            docker_config_base64=credentials,
        )
        if builder is not None
        else None,
        coder_agent=CoderAgentSettings(url=agent["url"], token=agent["token"], init_script=agent["init_script"])
        if agent is not None
        else None,
    )
    validate_workload(workload, workspace_plan.workspace.env_dict)
    if workspace_plan.workspace.nested is not None:
        for key in workload.env:
            if key.startswith("CODER_"):  # envbox reads every CODER_* variable of its container as a setting
                raise FieldError(("env", key), "envbox reads CODER_* variables as its own settings; rename it")
    daemon = DaemonSettings(
        mtu=args.get("mtu"),
        default_address_pool=args.get("default_address_pool"),
        ready_timeout=args["daemon_ready_timeout"],
    )
    return ResolvedWorkspace(name, workspace_plan, workload, daemon, args["running"], args)
