"""Component arguments: TypedDicts with a docstring under every field.

Pulumi's Python component-provider host turns these into the package schema, so
the same classes serve Python importers and other languages. Fields that decide
which resources exist (strategy, running, the options of a strategy) are plain
values: a resource graph cannot depend on a value known only after deployment.
"""

import base64
import binascii
import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Annotated, Optional

import pulumi
from typing_extensions import NotRequired, TypedDict

from .security import LEVEL_ORDER, SecurityLevel, security_level
from .strategies import StrategyOptions, WorkspacePlan, plan
from .strategies.spec import DEFAULT_DIND_IMAGE, DEFAULT_SYSBOX_RUNTIME
from .strategy import Strategy
from .workload import (
    DEFAULT_ENVBUILDER_IMAGE,
    DEFAULT_READY_TIMEOUT,
    CoderAgentSettings,
    DaemonSettings,
    EnvbuilderSettings,
    WorkloadSettings,
)
from .workload import validate as validate_workload

DEFAULT_STRATEGY = Strategy.SYSBOX
"""The only strategy that needs no privileged container and no host socket."""

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_ADDRESS_POOL = re.compile(r"^base=[0-9a-fA-F:.]+/\d{1,3},size=\d{1,3}$")


class EnvbuilderArgs(TypedDict):
    """Build the workspace image with Envbuilder from a repository's devcontainer."""

    git_url: pulumi.Input[str]
    """Repository Envbuilder clones (ENVBUILDER_GIT_URL)."""
    devcontainer_dir: NotRequired[pulumi.Input[str]]
    """Directory of devcontainer.json inside the repository (ENVBUILDER_DEVCONTAINER_DIR)."""
    init_script: NotRequired[pulumi.Input[str]]
    """Script run after the build, once the Docker daemon is ready; default `sleep infinity`."""
    fallback_image: NotRequired[pulumi.Input[str]]
    """Image used when the build fails (ENVBUILDER_FALLBACK_IMAGE)."""
    cache_repo: NotRequired[pulumi.Input[str]]
    """Registry repository for layer caching (ENVBUILDER_CACHE_REPO)."""
    docker_config_base64: NotRequired[Annotated[pulumi.Input[str], "secret"]]
    """Base64 Docker config.json with registry credentials; kept a Pulumi secret."""
    image: NotRequired[str]
    """Envbuilder image; default pinned `ghcr.io/coder/envbuilder:1.1.0`."""


class CoderAgentArgs(TypedDict):
    """Run a Coder agent as the workload."""

    url: pulumi.Input[str]
    """Coder deployment URL (CODER_AGENT_URL)."""
    token: Annotated[pulumi.Input[str], "secret"]
    """Agent token (CODER_AGENT_TOKEN); kept a Pulumi secret."""
    init_script: pulumi.Input[str]
    """The agent's init script (coder_agent.init_script in Coder templates); it becomes the workload."""


class WorkspaceArgs(TypedDict):
    """Arguments every workspace target takes."""

    strategy: NotRequired[Strategy]
    """How the workspace gets its Docker daemon; default `sysbox` (the only one rated high)."""
    image: NotRequired[pulumi.Input[str]]
    """Workspace image; required unless `envbuilder` is given."""
    running: NotRequired[bool]
    """False stops the workspace (no container) and keeps every volume; default true."""
    command: NotRequired[list[str]]
    """Workload run once Docker is ready; default `sleep infinity`. Not with coder_agent/envbuilder."""
    env: NotRequired[dict[str, pulumi.Input[str]]]
    """Extra environment variables for the workspace container."""
    home_path: NotRequired[str]
    """Home directory of the workspace user, kept on a volume; default `/home/coder`."""
    dind_image: NotRequired[str]
    """Daemon image for `dind-sidecar`; default pinned `docker:27.5.1-dind`."""
    docker_socket_gid: NotRequired[int]
    """`dood` only, required: GID owning the host's Docker socket (`stat -c %g /var/run/docker.sock`)."""
    daemon_socket_gid: NotRequired[int]
    """GID the inner dockerd gives its socket (`dockerd --group`); default 1000."""
    mtu: NotRequired[int]
    """MTU of the inner daemon's networks; default: the workspace's own eth0 MTU."""
    default_address_pool: NotRequired[str]
    """Inner dockerd's `--default-address-pool`, e.g. `base=10.201.0.0/16,size=24`."""
    daemon_ready_timeout: NotRequired[int]
    """Seconds to wait for `docker info` before the workspace fails; default 120."""
    runtime: NotRequired[str]
    """`sysbox` only: the runtime (RuntimeClass on Kubernetes) name; default `sysbox-runc`."""
    envbuilder: NotRequired[EnvbuilderArgs]
    """Build the image with Envbuilder; the daemon start is wrapped into its init script."""
    coder_agent: NotRequired[CoderAgentArgs]
    """Run a Coder agent as the workload."""
    allow_insecure: NotRequired[bool]
    """Acknowledge a strategy rated `none` or `low` (dood, dind, dind-sidecar); without it they are refused."""


class DockerHostWorkspaceArgs(WorkspaceArgs):
    """Arguments of `DockerHostWorkspace`: a workspace on one Docker host."""


@dataclass(frozen=True)
class ResolvedWorkspace:
    """Args checked and turned into the target-neutral pieces the adapters use."""

    name: str
    plan: WorkspacePlan
    workload: WorkloadSettings
    daemon: DaemonSettings
    running: bool


INSECURE_LEVELS = (SecurityLevel.NONE, SecurityLevel.LOW)
_WHY = {
    SecurityLevel.NONE: "the workspace controls the host's Docker daemon, so it is root on the host",
    SecurityLevel.LOW: "a privileged container runs as root, so escaping to the host is easy",
}


def safer_strategies(options: StrategyOptions) -> list[tuple[Strategy, SecurityLevel]]:
    """Strategies whose plans (with the same options) need no acknowledgement, safest first."""
    found = []
    for candidate in Strategy:
        try:
            candidate_level = security_level(plan(candidate, options))
        except ValueError:
            continue  # e.g. dood without a socket GID: never safer anyway
        if candidate_level not in INSECURE_LEVELS:
            found.append((candidate, candidate_level))
    return sorted(found, key=lambda pair: -LEVEL_ORDER.index(pair[1]))


def refuse_insecure(name: str, workspace_plan: WorkspacePlan, options: StrategyOptions) -> None:
    """Insecure strategies never happen by accident: rated none/low needs allow_insecure."""
    level = security_level(workspace_plan)
    if level not in INSECURE_LEVELS:
        return
    safer = ", ".join(f"{s.value} ({lvl.value})" for s, lvl in safer_strategies(options))
    raise ValueError(
        f"allow_insecure: workspace {name!r} uses strategy {workspace_plan.strategy.value}, security level "
        f"{level.value} ({_WHY[level]}); acknowledge it with allow_insecure: true, or use a safer strategy: {safer}"
    )


def _as_envbuilder_workspace(workspace_plan: WorkspacePlan) -> WorkspacePlan:
    """Envbuilder rewrites the container's filesystem while it builds, so its container runs
    as root; a plan whose workspace must run as another user cannot use it."""
    workspace = workspace_plan.workspace
    if workspace.daemon is not None and workspace.daemon.rootless:
        raise ValueError(
            "envbuilder: Envbuilder runs as root to build the image, and rootless dockerd must not run as "
            "root; use strategy sysbox or dind with envbuilder, or dind-rootless without it"
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


def validate_name(name: str, field: str = "name") -> None:
    if not isinstance(name, str) or not _DNS1123_LABEL.fullmatch(name):
        raise ValueError(
            f"{field}: {name!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )


def _positive_int(args: WorkspaceArgs, key: str, low: int, high: int) -> Optional[int]:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key}: must be a whole number from {low} to {high}, got {value!r}")
    return value


def resolve(name: str, args: WorkspaceArgs) -> ResolvedWorkspace:
    """Check args (raising ValueError that names the field) and build the plan."""
    validate_name(name)
    args = dict(args or {})  # type: ignore[assignment]
    strategy = args.get("strategy", DEFAULT_STRATEGY)
    gid = _positive_int(args, "docker_socket_gid", 0, 2**31 - 1)
    daemon_gid = _positive_int(args, "daemon_socket_gid", 0, 2**31 - 1)
    mtu = _positive_int(args, "mtu", 576, 65535)
    timeout = _positive_int(args, "daemon_ready_timeout", 1, 3600)
    pool = args.get("default_address_pool")
    if pool is not None and not _ADDRESS_POOL.fullmatch(pool):
        raise ValueError(f"default_address_pool: expected 'base=<cidr>,size=<prefix>', got {pool!r}")
    options = StrategyOptions(
        home_path=args.get("home_path", StrategyOptions.home_path),
        dind_image=args.get("dind_image", DEFAULT_DIND_IMAGE),
        docker_socket_gid=gid,
        daemon_socket_gid=StrategyOptions.daemon_socket_gid if daemon_gid is None else daemon_gid,
        runtime=args.get("runtime", DEFAULT_SYSBOX_RUNTIME),
    )
    if not options.home_path.startswith("/"):
        raise ValueError(f"home_path: must be an absolute path, got {options.home_path!r}")
    workspace_plan = plan(strategy, options)
    if args.get("envbuilder") is not None:
        workspace_plan = _as_envbuilder_workspace(workspace_plan)
    allow_insecure = args.get("allow_insecure", False)
    if not isinstance(allow_insecure, bool):
        raise ValueError(f"allow_insecure: must be true or false, got {allow_insecure!r}")
    if not allow_insecure:
        refuse_insecure(name, workspace_plan, options)

    builder = args.get("envbuilder")
    agent = args.get("coder_agent")
    if builder is not None and not builder.get("git_url"):
        raise ValueError("envbuilder.git_url: required when envbuilder is given")
    credentials = builder.get("docker_config_base64") if builder is not None else None
    if isinstance(credentials, str) and not _is_base64_json(credentials):
        raise ValueError(
            "envbuilder.docker_config_base64: not a base64-encoded Docker config.json; "
            "make it with `base64 -w0 ~/.docker/config.json`"
        )
    if agent is not None:
        missing = [k for k in ("url", "token", "init_script") if not agent.get(k)]
        if missing:
            raise ValueError(f"coder_agent.{missing[0]}: required when coder_agent is given")
    image = args.get("image")
    if image is not None and isinstance(image, str) and not image.strip():
        raise ValueError("image: must not be empty")
    workload = WorkloadSettings(
        image=image,
        command=args.get("command"),
        env=dict(args.get("env") or {}),
        envbuilder=EnvbuilderSettings(
            git_url=builder["git_url"],
            image=builder.get("image", DEFAULT_ENVBUILDER_IMAGE),
            devcontainer_dir=builder.get("devcontainer_dir"),
            init_script=builder.get("init_script"),
            fallback_image=builder.get("fallback_image"),
            cache_repo=builder.get("cache_repo"),
            docker_config_base64=builder.get("docker_config_base64"),
        )
        if builder is not None
        else None,
        coder_agent=CoderAgentSettings(url=agent["url"], token=agent["token"], init_script=agent["init_script"])
        if agent is not None
        else None,
    )
    validate_workload(workload, workspace_plan.workspace.env_dict)
    daemon = DaemonSettings(
        mtu=mtu,
        default_address_pool=pool,
        ready_timeout=DEFAULT_READY_TIMEOUT if timeout is None else timeout,
    )
    running = args.get("running", True)
    if not isinstance(running, bool):
        raise ValueError(f"running: must be true or false, got {running!r}")
    return ResolvedWorkspace(name, workspace_plan, workload, daemon, running)
