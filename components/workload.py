"""What the workspace container runs, and how the daemon start wraps it. Target-neutral.

The adapters ask this module for a `Launch` per container: the image, the
entrypoint/command, and the environment. Envbuilder does not run devcontainer
feature entrypoints, so with Envbuilder the daemon start is inlined into
`ENVBUILDER_INIT_SCRIPT` instead of being the container's entrypoint.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Optional

import pulumi

from .fields import FieldError, Key
from .strategies.spec import WORKSPACE, ContainerSpec

START_SCRIPT_DIR = "/opt/docker-in-workspaces"
START_SCRIPT_NAME = "start-docker.sh"
START_SCRIPT_PATH = f"{START_SCRIPT_DIR}/{START_SCRIPT_NAME}"
"""Where adapters place the start script in containers that use it as entrypoint."""

DEFAULT_ENVBUILDER_IMAGE = "ghcr.io/coder/envbuilder:1.1.0"
DEFAULT_READY_TIMEOUT = 120
"""Seconds to wait for `docker info` (ARC's startup probe allows 24 x 5 s)."""
IDLE_WORKLOAD = ("sleep", "infinity")

_HEREDOC_MARK = "__DIW_START_DOCKER__"
_INLINE_SCRIPT = "/tmp/docker-in-workspaces-start.sh"


@functools.cache  # read once per run, not once per workspace
def start_script() -> str:
    """The POSIX start script shipped in the package."""
    text = resources.files(__package__).joinpath("scripts/start-docker.sh").read_text()
    assert _HEREDOC_MARK not in text
    return text


@functools.cache
def start_script_sha256() -> str:
    """Hex sha256 of `start_script()`: pods carry it so that a changed script rolls them."""
    return hashlib.sha256(start_script().encode()).hexdigest()


@dataclass(frozen=True)
class DaemonSettings:
    """Knobs of the inner daemon, passed to the start script."""

    mtu: Optional[int] = None
    """None: the container's own eth0 MTU (inner MTU larger than the outer one stalls pulls)."""
    default_address_pool: Optional[str] = None
    ready_timeout: int = DEFAULT_READY_TIMEOUT


@dataclass(frozen=True)
class EnvbuilderSettings:
    git_url: pulumi.Input[str]
    image: str = DEFAULT_ENVBUILDER_IMAGE
    devcontainer_dir: Optional[pulumi.Input[str]] = None
    init_script: Optional[pulumi.Input[str]] = None
    fallback_image: Optional[pulumi.Input[str]] = None
    cache_repo: Optional[pulumi.Input[str]] = None
    docker_config_base64: Optional[pulumi.Input[str]] = None
    """Registry credentials; always handled as a Pulumi secret."""


@dataclass(frozen=True)
class CoderAgentSettings:
    url: pulumi.Input[str]
    token: pulumi.Input[str]
    """Always handled as a Pulumi secret."""
    init_script: pulumi.Input[str]


@dataclass(frozen=True)
class WorkloadSettings:
    image: Optional[pulumi.Input[str]] = None
    command: Optional[Sequence[str]] = None
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    envbuilder: Optional[EnvbuilderSettings] = None
    coder_agent: Optional[CoderAgentSettings] = None


SECRETS_DIR = "/run/docker-in-workspaces"
"""Where a Docker host places secret files (a target without Secrets: env is no place for them)."""
CODER_AGENT_TOKEN_FILE = f"{SECRETS_DIR}/coder-agent-token"
ENVBUILDER_DOCKER_CONFIG_FILE = "/.envbuilder/config.json"
"""Envbuilder reads registry credentials from this file when ENVBUILDER_DOCKER_CONFIG_BASE64 is unset."""


@dataclass(frozen=True)
class SecretValue:
    """A secret the container needs. Kubernetes passes `env` from a Secret (`secretKeyRef`); a Docker host,
    whose env list is one value in state and previews, writes it to `file` (when the consumer reads one)."""

    env: str
    value: pulumi.Input[str]
    file: Optional[str] = None
    """Where the consumer also reads it from; None: only as env."""
    file_env: Optional[str] = None
    """Env var naming `file` for the consumer (e.g. CODER_AGENT_TOKEN_FILE)."""
    file_is_base64_decoded: bool = False
    """The file holds the value base64-decoded (`ENVBUILDER_DOCKER_CONFIG_BASE64` -> config.json)."""


@dataclass
class Launch:
    """How one container starts."""

    image: pulumi.Input[str]
    env: dict[str, pulumi.Input[str]]
    """Non-secret environment (a user's Output-valued entries may still be secret: see `may_be_secret`)."""
    entrypoint: Optional[list[str]] = None
    """None: the image's own entrypoint (Envbuilder)."""
    command: Optional[list[pulumi.Input[str]]] = None
    uses_start_script_file: bool = False
    """The entrypoint runs `start_script()`: the adapter places it at START_SCRIPT_PATH (Kubernetes: a ConfigMap)
    or inlines it (Docker host)."""
    secrets: list[SecretValue] = field(default_factory=list)
    may_be_secret: frozenset[str] = frozenset()
    """Keys of `env` given by the user as Outputs: the graph cannot wait to see whether they are secret."""


def start_env(spec: ContainerSpec, daemon: DaemonSettings) -> dict[str, str]:
    """The start script's knobs for this container."""
    env = {"DIW_DOCKERD_TIMEOUT": str(daemon.ready_timeout)}
    if spec.daemon is None:
        env["DIW_DOCKERD_MODE"] = "wait" if spec.waits_for else "none"
        if env["DIW_DOCKERD_MODE"] == "none":
            del env["DIW_DOCKERD_TIMEOUT"]
        return env
    env["DIW_DOCKERD_MODE"] = spec.daemon.kind.value
    env["DIW_DOCKERD_DATA_ROOT"] = spec.daemon.data_root
    if spec.daemon.socket_gid is not None:
        env["DIW_DOCKERD_GROUP"] = str(spec.daemon.socket_gid)
    if daemon.mtu is not None:
        env["DIW_DOCKERD_MTU"] = str(daemon.mtu)
    if daemon.default_address_pool:
        env["DIW_DOCKERD_ADDRESS_POOL"] = daemon.default_address_pool
    return env


def validate(workload: WorkloadSettings, strategy_env: Mapping[str, str]) -> None:
    """Raise FieldError for combinations that cannot work (each field's own form is checked by its declaration)."""
    for key in workload.env:
        if key in strategy_env or key.startswith(("DIW_", "ENVBUILDER_", "CODER_AGENT_")):
            raise FieldError(
                ("env", Key(key)), "set by the component (strategy, envbuilder or coder_agent); remove it from env"
            )
    if workload.envbuilder is None and workload.image is None:
        raise FieldError(("image",), "required unless envbuilder is given (then envbuilder builds the image)")
    if workload.command is not None and (workload.coder_agent or workload.envbuilder):
        raise FieldError(("command",), "not allowed with coder_agent or envbuilder; their init_script is the workload")
    if workload.coder_agent and workload.envbuilder and workload.envbuilder.init_script is not None:
        raise FieldError(
            ("envbuilder", "init_script"), "with coder_agent the agent's init_script is the workload; remove one"
        )
    if workload.command is not None and not workload.command:
        raise FieldError(("command",), "must not be empty; leave it out to keep the workspace idle")


def _kv_env(workload: WorkloadSettings, spec: ContainerSpec) -> dict[str, pulumi.Input[str]]:
    env: dict[str, pulumi.Input[str]] = dict(workload.env)
    env.update(spec.env_dict)
    if workload.coder_agent is not None:
        env["CODER_AGENT_URL"] = workload.coder_agent.url
    return env


def _secrets(workload: WorkloadSettings) -> list[SecretValue]:
    secrets = []
    if workload.coder_agent is not None:
        secrets.append(
            SecretValue(
                "CODER_AGENT_TOKEN",
                pulumi.Output.secret(workload.coder_agent.token),
                file=CODER_AGENT_TOKEN_FILE,
                file_env="CODER_AGENT_TOKEN_FILE",  # the agent reads the token from it when CODER_AGENT_TOKEN is unset
            )
        )
    builder = workload.envbuilder
    if builder is not None and builder.docker_config_base64 is not None:
        secrets.append(
            SecretValue(
                "ENVBUILDER_DOCKER_CONFIG_BASE64",
                pulumi.Output.secret(builder.docker_config_base64),
                file=ENVBUILDER_DOCKER_CONFIG_FILE,
                file_is_base64_decoded=True,
            )
        )
    return secrets


def _envbuilder_env(builder: EnvbuilderSettings) -> dict[str, pulumi.Input[str]]:
    env: dict[str, pulumi.Input[str]] = {"ENVBUILDER_GIT_URL": builder.git_url}
    optional = {
        "ENVBUILDER_DEVCONTAINER_DIR": builder.devcontainer_dir,
        "ENVBUILDER_FALLBACK_IMAGE": builder.fallback_image,
        "ENVBUILDER_CACHE_REPO": builder.cache_repo,
    }
    env.update({k: v for k, v in optional.items() if v is not None})
    return env


def envbuilder_init_script(knobs: Mapping[str, str], workload_script: str) -> str:
    """A shell script that writes the start script, starts the daemon, then runs `workload_script`."""
    exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(knobs.items()))
    return (
        exports
        + f"cat > {_INLINE_SCRIPT} <<'{_HEREDOC_MARK}'\n"
        + start_script()
        + f"{_HEREDOC_MARK}\n"
        + f"exec /bin/sh {_INLINE_SCRIPT} /bin/sh -c {shlex.quote(workload_script)}\n"
    )


def workspace_launch(spec: ContainerSpec, workload: WorkloadSettings, daemon: DaemonSettings) -> Launch:
    """The workspace container's launch: start (or wait for) the daemon, then the workload (resolve() validated it)."""
    env = _kv_env(workload, spec)
    secrets = _secrets(workload)
    may_be_secret = frozenset(k for k, v in workload.env.items() if not isinstance(v, str))
    knobs = start_env(spec, daemon)
    builder = workload.envbuilder
    if builder is not None:
        env.update(_envbuilder_env(builder))
        script: pulumi.Input[str] = (
            workload.coder_agent.init_script
            if workload.coder_agent
            else builder.init_script
            if builder.init_script is not None
            else shlex.join(IDLE_WORKLOAD)
        )
        env["ENVBUILDER_INIT_SCRIPT"] = pulumi.Output.from_input(script).apply(
            lambda text: envbuilder_init_script(knobs, text)
        )
        return Launch(image=builder.image, env=env, secrets=secrets, may_be_secret=may_be_secret)
    env.update(knobs)
    if workload.coder_agent is not None:
        # Output-valued init scripts reach the command through the adapter's Output handling.
        command: list[pulumi.Input[str]] = ["/bin/sh", "-c", workload.coder_agent.init_script]
    else:
        command = list(workload.command or IDLE_WORKLOAD)
    assert workload.image is not None  # validate() guarantees it
    return Launch(
        image=workload.image,
        env=env,
        entrypoint=["/bin/sh", START_SCRIPT_PATH],
        command=command,
        uses_start_script_file=True,
        secrets=secrets,
        may_be_secret=may_be_secret,
    )


def daemon_launch(spec: ContainerSpec, daemon: DaemonSettings) -> Launch:
    """A sidecar daemon container: the start script with no workload keeps dockerd in the foreground."""
    assert spec.image is not None and spec.daemon is not None
    env: dict[str, pulumi.Input[str]] = dict(spec.env_dict)
    env.update(start_env(spec, daemon))
    return Launch(
        image=spec.image, env=env, entrypoint=["/bin/sh", START_SCRIPT_PATH], command=[], uses_start_script_file=True
    )


ENVBOX_TOKEN_FROM_FILE = (
    'if [ -z "${CODER_AGENT_TOKEN:-}" ] && [ -r "${CODER_AGENT_TOKEN_FILE:-}" ]; then\n'
    '  CODER_AGENT_TOKEN=$(cat "$CODER_AGENT_TOKEN_FILE"); export CODER_AGENT_TOKEN\n'
    "fi\n"
    'exec "$@"\n'
)
"""envbox reads the agent token from CODER_AGENT_TOKEN only; a Docker host keeps it in a file (env would make the
whole env list secret in previews), so the outer container's entrypoint reads it from there first."""
ENVBOX_INNER_ENVS = "CODER_INNER_ENVS"
"""envbox passes the outer container's variables named here (comma list, `PREFIX*` wildcards) to the inner one."""


def nested_launch(spec: ContainerSpec, workload: WorkloadSettings, daemon: DaemonSettings) -> Launch:
    """The outer container of a nested workspace (envbox): its own program creates the inner container from the
    workspace image and runs the bootstrap script in it, which starts the inner daemon (the start script, inlined
    as for Envbuilder) and then the workload."""
    validate(workload, spec.env_dict)
    nested = spec.nested
    assert nested is not None and spec.image is not None
    if workload.envbuilder is not None:  # args.resolve refuses it first, naming the field
        raise ValueError("envbuilder: not with envbox")
    inner = nested.spec
    env: dict[str, pulumi.Input[str]] = dict(workload.env)
    env.update(spec.env_dict)
    assert workload.image is not None  # validate() guarantees it without envbuilder
    env["CODER_INNER_IMAGE"] = workload.image
    passed = ["DIW_*", *sorted(workload.env)]  # DIW_*: what the adapters tell the workspace (published ports, ...)
    if workload.coder_agent is not None:
        env["CODER_AGENT_URL"] = workload.coder_agent.url  # envbox's own build log goes there too
        passed.append("CODER_AGENT_URL")
        script: pulumi.Input[str] = workload.coder_agent.init_script
    else:
        script = shlex.join(workload.command or IDLE_WORKLOAD)
    env[ENVBOX_INNER_ENVS] = ",".join(passed)
    # The inner container's own settings are exports of the bootstrap script: nothing else reaches only it.
    knobs = {**start_env(inner, daemon), **inner.env_dict}
    env["CODER_BOOTSTRAP_SCRIPT"] = pulumi.Output.from_input(script).apply(
        lambda text: envbuilder_init_script(knobs, text)
    )
    return Launch(
        image=spec.image,
        env=env,
        entrypoint=["/bin/sh", "-c", ENVBOX_TOKEN_FROM_FILE, "envbox"],
        command=list(nested.program),
        secrets=_secrets(workload),
        may_be_secret=frozenset(k for k, v in workload.env.items() if not isinstance(v, str)),
    )


def launch_for(spec: ContainerSpec, workload: WorkloadSettings, daemon: DaemonSettings) -> Launch:
    """The launch of any container of a plan: the workspace runs the workload, a sidecar the daemon."""
    if spec.nested is not None:
        return nested_launch(spec, workload, daemon)
    if spec.role == WORKSPACE:
        return workspace_launch(spec, workload, daemon)
    return daemon_launch(spec, daemon)


def daemon_probe_command() -> list[str]:
    """Readiness of a daemon: `docker info` succeeds (with the container's DOCKER_HOST)."""
    return ["docker", "info"]
