"""The stack configuration model: DESIGN.md's shape, camelCase keys, unknown keys rejected.

`load_stack_config()` turns raw config into checked settings, or raises
`ConfigError` with one message that names the path (e.g. `workspaces[1].strategy`)
and says what is allowed. Nothing is registered before this succeeds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from .args import DEFAULT_STRATEGY
from .strategy import Strategy

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")]


class ConfigError(ValueError):
    """Bad stack configuration: one readable message, naming the path."""


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True)


class EnvbuilderConfig(_Model):
    git_url: NonEmpty
    devcontainer_dir: Optional[NonEmpty] = None
    init_script: Optional[NonEmpty] = None
    fallback_image: Optional[NonEmpty] = None
    cache_repo: Optional[NonEmpty] = None
    docker_config_base64: Optional[NonEmpty] = None
    image: Optional[NonEmpty] = None


class CoderAgentConfig(_Model):
    url: NonEmpty
    token: NonEmpty
    init_script: NonEmpty


class WorkspaceConfig(_Model):
    name: Annotated[str, StringConstraints(pattern=DNS1123_LABEL)]
    strategy: Strategy = DEFAULT_STRATEGY
    image: Optional[NonEmpty] = None
    running: bool = True
    command: Optional[list[NonEmpty]] = Field(default=None, min_length=1)
    env: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] = {}
    home_path: Optional[Annotated[str, StringConstraints(pattern=r"^/")]] = None
    dind_image: Optional[NonEmpty] = None
    docker_socket_gid: Optional[Annotated[int, Field(ge=0)]] = None
    daemon_socket_gid: Optional[Annotated[int, Field(ge=0)]] = None
    mtu: Optional[Annotated[int, Field(ge=576, le=65535)]] = None
    default_address_pool: Optional[
        Annotated[str, StringConstraints(pattern=r"^base=[0-9a-fA-F:.]+/\d{1,3},size=\d{1,3}$")]
    ] = None
    daemon_ready_timeout: Optional[Annotated[int, Field(ge=1, le=3600)]] = None
    runtime: Optional[NonEmpty] = None
    envbuilder: Optional[EnvbuilderConfig] = None
    coder_agent: Optional[CoderAgentConfig] = None
    allow_insecure: Optional[bool] = None
    """None: the stack-wide `allowInsecure` decides."""

    @model_validator(mode="after")
    def _image_or_envbuilder(self) -> WorkspaceConfig:
        if self.image is None and self.envbuilder is None:
            raise ValueError("image is required unless envbuilder is given")
        if self.strategy == Strategy.DOOD and self.docker_socket_gid is None:
            raise ValueError(
                "dockerSocketGid is required for strategy dood (`stat -c %g /var/run/docker.sock` on the host)"
            )
        return self


class Toleration(_Model):
    key: Optional[str] = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: Optional[str] = None
    effect: Optional[Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]] = None


class Resources(_Model):
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}


class KubernetesConfig(_Model):
    namespace: Annotated[str, StringConstraints(pattern=DNS1123_LABEL)] = "workspaces"
    create_namespace: bool = False
    storage_class: Optional[NonEmpty] = None
    data_root_size: Quantity = "20Gi"
    home_size: Quantity = "10Gi"
    native_sidecar: bool = True
    user_namespace_mode: Literal["annotation", "hostUsers"] = "annotation"
    create_runtime_class: bool = False
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []
    resources: Optional[Resources] = None
    mount_service_account_token: bool = False


class StackConfig(_Model):
    target: Literal["docker", "kubernetes"] = "docker"
    allow_insecure: bool = False
    """Stack default for workspaces that do not set allowInsecure themselves."""
    workspaces: list[WorkspaceConfig] = Field(min_length=1)
    kubernetes: Optional[KubernetesConfig] = None

    @field_validator("workspaces")
    @classmethod
    def _unique_names(cls, workspaces: list[WorkspaceConfig]) -> list[WorkspaceConfig]:
        seen: dict[str, int] = {}
        for index, ws in enumerate(workspaces):
            if ws.name in seen:
                raise ValueError(
                    f"workspace name {ws.name!r} is used twice (workspaces[{seen[ws.name]}] and "
                    f"workspaces[{index}]); names must be unique"
                )
            seen[ws.name] = index
        return workspaces

    @model_validator(mode="after")
    def _kubernetes_block(self) -> StackConfig:
        if self.target == "docker" and self.kubernetes is not None:
            raise ValueError("the kubernetes block is only for target kubernetes; remove it or set target: kubernetes")
        return self


def _path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith(("function-", "constrained-")):
            text = str(part)
            if not text.isidentifier():  # a user's odd key (spaces, newlines): quoted, on one line
                path += f"[{text!r}]"
            else:
                path += f".{text}" if path else text
    return path


def _describe(error: Any) -> str:  # a pydantic ErrorDetails
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p and p.endswith("]")))
    path = _path(loc) or "config"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key; check its spelling (keys are camelCase, e.g. dockerSocketGid)"
    if kind == "enum":
        allowed = ", ".join(s.value for s in Strategy)
        return f"{path}: {error['input']!r} is not a strategy; use one of: {allowed}"
    if kind == "literal_error":
        return f"{path}: {error['msg'].replace('Input should be', 'must be')}, got {error['input']!r}"
    if kind == "string_pattern_mismatch" and path.endswith("name"):
        return (
            f"{path}: {error['input']!r} is not a DNS-1123 label; use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters"
        )
    message = error["msg"].removeprefix("Value error, ")
    return f"{path}: {message}"


def load_stack_config(raw: dict[str, Any]) -> StackConfig:
    """Validate raw config (keys without the project prefix) or raise ConfigError."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors(include_url=False)]
        raise ConfigError("invalid stack config:\n  " + "\n  ".join(lines)) from None
