"""Component arguments: TypedDicts with a docstring under every field; the one declaration of each input.

Pulumi's Python component-provider host turns these into the package schema, so
the same classes serve Python importers and other languages. Each field's
constraints and default are `Annotated` metadata (components/fields.py): `resolve()`
checks args against them, the config reference in the README is generated from
them, and stack config is read through them. Fields that decide which resources
exist (strategy, running, the options of a strategy) are plain values: a resource
graph cannot depend on a value known only after deployment.
"""

from typing import Annotated

import pulumi
from typing_extensions import NotRequired, TypedDict

from .fields import NON_EMPTY, SECRET, Between, Default, Matches
from .strategies.spec import (
    DEFAULT_DIND_IMAGE,
    DEFAULT_ENVBOX_IMAGE,
    DEFAULT_HOME_PATH,
    DEFAULT_SYSBOX_RUNTIME,
    ROOTLESS_UID,
    AppArmor,
)
from .strategy import Strategy
from .workload import DEFAULT_ENVBUILDER_IMAGE, DEFAULT_READY_TIMEOUT

DEFAULT_STRATEGY = Strategy.SYSBOX
"""The only strategy that needs no privileged container and no host socket."""

DNS1123_LABEL = Matches(
    r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
    "a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, "
    "at most 63 characters)",
)
ENV_NAME = Matches(
    r"[A-Za-z_][A-Za-z0-9_]*", "a valid environment variable name (letters, digits, _; not starting with a digit)"
)
ABSOLUTE_PATH = Matches(r"/.*", "an absolute path such as /home/coder")
ADDRESS_POOL = Matches(
    r"base=[0-9a-fA-F:.]+/\d{1,3},size=\d{1,3}", "'base=<cidr>,size=<prefix>', e.g. 'base=10.201.0.0/16,size=24'"
)
GID = Between(0, 2**31 - 1)
USER_NAME = Matches(
    r"[a-z_][a-z0-9_-]{0,31}",
    "a user name (lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters)",
)
"""A portable user name (useradd's default rule), as `getent passwd` in an image finds it."""


class EnvbuilderArgs(TypedDict):
    """Build the workspace image with Envbuilder from a repository's devcontainer."""

    git_url: Annotated[pulumi.Input[str], NON_EMPTY]
    """Repository Envbuilder clones (ENVBUILDER_GIT_URL)."""
    devcontainer_dir: NotRequired[Annotated[pulumi.Input[str], NON_EMPTY]]
    """Directory of devcontainer.json inside the repository (ENVBUILDER_DEVCONTAINER_DIR)."""
    init_script: NotRequired[Annotated[pulumi.Input[str], NON_EMPTY]]
    """Script run after the build, once the Docker daemon is ready; unset: `sleep infinity`."""
    fallback_image: NotRequired[Annotated[pulumi.Input[str], NON_EMPTY]]
    """Image used when the build fails (ENVBUILDER_FALLBACK_IMAGE)."""
    cache_repo: NotRequired[Annotated[pulumi.Input[str], NON_EMPTY]]
    """Registry repository for layer caching (ENVBUILDER_CACHE_REPO)."""
    docker_config_base64: NotRequired[Annotated[pulumi.Input[str], SECRET, NON_EMPTY]]
    """Base64 Docker config.json with registry credentials (`base64 -w0 ~/.docker/config.json`); kept a Pulumi
    secret."""
    image: NotRequired[Annotated[str, NON_EMPTY, Default(DEFAULT_ENVBUILDER_IMAGE)]]
    """Envbuilder image (pinned)."""


class CoderAgentArgs(TypedDict):
    """Run a Coder agent as the workload."""

    url: Annotated[pulumi.Input[str], NON_EMPTY]
    """Coder deployment URL (CODER_AGENT_URL)."""
    token: Annotated[pulumi.Input[str], SECRET, NON_EMPTY]
    """Agent token (CODER_AGENT_TOKEN); kept a Pulumi secret."""
    init_script: Annotated[pulumi.Input[str], NON_EMPTY]
    """The agent's init script (coder_agent.init_script in Coder templates); it becomes the workload."""


class WorkspaceArgs(TypedDict):
    """Arguments every workspace target takes."""

    strategy: NotRequired[Annotated[Strategy, Default(DEFAULT_STRATEGY)]]
    """How the workspace gets its Docker daemon (the default, `sysbox`, is rated high, as is `podman`)."""
    image: NotRequired[Annotated[pulumi.Input[str], NON_EMPTY]]
    """Workspace image; required unless `envbuilder` is given."""
    running: NotRequired[Annotated[bool, Default(True)]]
    """False stops the workspace (no container) and keeps every volume."""
    command: NotRequired[list[Annotated[str, NON_EMPTY]]]
    """Workload run once Docker is ready; unset: `sleep infinity`. Not with coder_agent/envbuilder."""
    env: NotRequired[dict[Annotated[str, ENV_NAME], pulumi.Input[str]]]
    """Extra environment variables for the workspace container (the strategy's own, e.g. `DOCKER_HOST`, and
    `DIW_*`, `ENVBUILDER_*`, `CODER_AGENT_*` cannot be set; with `envbox`, no `CODER_*`)."""
    home_path: NotRequired[Annotated[str, ABSOLUTE_PATH, Default(DEFAULT_HOME_PATH)]]
    """Home directory of the workspace user, kept on the `<name>-home` volume. `dood` on a Docker host refuses it:
    there `$HOME` is the volume's own path on the host."""
    dind_image: NotRequired[Annotated[str, NON_EMPTY, Default(DEFAULT_DIND_IMAGE)]]
    """Daemon image for `dind-sidecar` (pinned)."""
    docker_socket_gid: NotRequired[Annotated[int, GID]]
    """`dood` only, required there: GID owning the host's (node's) Docker socket
    (`stat -c %g /var/run/docker.sock`)."""
    daemon_socket_gid: NotRequired[Annotated[int, GID, Default(ROOTLESS_UID)]]
    """GID the inner dockerd gives its socket (`dockerd --group`)."""
    mtu: NotRequired[Annotated[int, Between(576, 65535)]]
    """MTU of the inner daemon's networks (e.g. 1460 on GKE); unset: the workspace's own eth0 MTU."""
    default_address_pool: NotRequired[Annotated[str, ADDRESS_POOL]]
    """Inner dockerd's `--default-address-pool`, e.g. `base=10.201.0.0/16,size=24`."""
    daemon_ready_timeout: NotRequired[Annotated[int, Between(1, 3600), Default(DEFAULT_READY_TIMEOUT)]]
    """Seconds to wait for `docker info` before the workspace fails."""
    runtime: NotRequired[Annotated[str, NON_EMPTY, Default(DEFAULT_SYSBOX_RUNTIME)]]
    """`sysbox` only: the runtime (RuntimeClass on Kubernetes) name."""
    app_armor_profile: NotRequired[Annotated[AppArmor, Default(AppArmor.RUNTIME_DEFAULT)]]
    """`podman` and `dind-userns` only: the workspace container's AppArmor profile on hosts (nodes) that have
    AppArmor: `RuntimeDefault`, whose rules deny the mounts rootless engines make, or `Unconfined` (security level
    medium; Pod Security privileged; Kubernetes >= 1.30). Hosts without AppArmor ignore it."""
    envbox_image: NotRequired[Annotated[str, NON_EMPTY, Default(DEFAULT_ENVBOX_IMAGE)]]
    """`envbox` only: image of the privileged outer container that runs Sysbox, its own dockerd and the workspace
    (pinned)."""
    envbox_inner_username: NotRequired[Annotated[str, USER_NAME, Default("coder")]]
    """`envbox` only: the workspace image's user (CODER_INNER_USERNAME); it owns the home (which must be
    `/home/<user>` or `/root`) and runs the daemon start (root or passwordless sudo) and the workload."""
    envbox_add_fuse: NotRequired[Annotated[bool, Default(False)]]
    """`envbox` only: give the workspace's container /dev/fuse (CODER_ADD_FUSE)."""
    envbox_add_tun: NotRequired[Annotated[bool, Default(False)]]
    """`envbox` only: give the workspace's container /dev/net/tun (CODER_ADD_TUN)."""
    envbuilder: NotRequired[EnvbuilderArgs]
    """Build the image with Envbuilder; the daemon start is wrapped into its init script."""
    coder_agent: NotRequired[CoderAgentArgs]
    """Run a Coder agent as the workload."""
    allow_insecure: NotRequired[Annotated[bool, Default(False)]]
    """Acknowledge a strategy rated `none` or `low` (dood, dind, dind-sidecar, envbox); without it they are refused.
    In stack config, unset: the stack's `allowInsecure`."""


class DockerHostWorkspaceArgs(WorkspaceArgs):
    """Arguments of `DockerHostWorkspace`: a workspace on one Docker host."""
