"""The stack configuration: DESIGN.md's envelope, and each workspace read through the components' own args.

`load_stack_config()` checks the envelope (target, allowInsecure, workspaces, kubernetes) and then
resolves every workspace with the same functions the components use (`resolve_docker_host`,
`resolve_kubernetes`), reading camelCase keys; it raises `ConfigError` with one line per bad
workspace, each naming the path in the file's own spelling (e.g. `workspaces[1].coderAgent.token`).
Nothing is registered before this succeeds.
"""

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from .fields import CONFIG, FieldError, Path, fields, is_unknown_yet
from .resolve import ResolvedWorkspace, resolve_workspace, validate_name


class ConfigError(ValueError):
    """Bad stack configuration: one readable message, naming the path."""


PROJECT_PREFIX = "docker-in-workspaces:"
NAME_DOC = "Unique in the stack; names the workspace's containers, volumes and Kubernetes objects."


class StackEnvelope(BaseModel):
    """The stack's top-level keys; each workspace entry is read through the components' args."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True, use_attribute_docstrings=True
    )

    target: Literal["docker", "kubernetes"] = "docker"
    """`docker` (one Docker host) or `kubernetes`."""
    allow_insecure: bool = False
    """Stack-wide acknowledgement of strategies rated `none` or `low`, for workspaces that do not set
    `allowInsecure` themselves."""
    workspaces: list[dict[str, Any]] = Field(min_length=1)
    """The workspaces; fields below."""
    kubernetes: Optional[dict[str, Any]] = None
    """Target `kubernetes` only: settings every workspace of the stack shares; fields below."""


@dataclass(frozen=True)
class StackWorkspace:
    name: str
    resolved: Any
    """`ResolvedWorkspace` (docker) or `ResolvedKubernetesWorkspace` (kubernetes)."""

    @property
    def workspace(self) -> ResolvedWorkspace:
        return getattr(self.resolved, "workspace", self.resolved)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class StackConfig:
    target: str
    workspaces: list[StackWorkspace]


CONFIG_FIELDS = {to_camel(name): name for name in StackEnvelope.model_fields}


def _envelope_error(error: Any) -> str:  # a pydantic ErrorDetails
    path = CONFIG.path(tuple(error["loc"])) or "config"
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{path}: unknown key; the keys of a stack's config are: {', '.join(CONFIG_FIELDS)}"
    if kind == "literal_error":
        return f"{path}: {error['msg'].replace('Input should be', 'must be')}, got {error['input']!r}"
    return f"{path}: {error['msg']}"


def secret_fields(value: Any, typ: Any, path: Path = ()) -> Iterator[Path]:
    """Paths of the fields declared secret that `value` (checked args, Python keys) sets to a plain value."""
    if not isinstance(value, Mapping):
        return
    declared = fields(typ)
    for name, item in value.items():
        decl = declared.get(name)
        if decl is None or item is None:
            continue
        if decl.secret and not is_unknown_yet(item):
            yield (*path, name)
        elif hasattr(decl.annotation, "__annotations__") and isinstance(item, Mapping):
            yield from secret_fields(item, decl.annotation, (*path, name))


def _refuse_plaintext(args: Mapping[str, Any], typ: type, config_key_secret: bool, where: Path) -> None:
    if config_key_secret:
        return  # the engine hands the whole key as a secret: the components keep the value one
    for path in secret_fields(args, typ):
        raise FieldError(
            path,
            "a secret written in plaintext in the stack file; make it a secret with "
            f"`pulumi config set --secret --path '{CONFIG.path((*where, *path))}' <value>` "
            "(the plaintext is then replaced by `secure:`)",
            CONFIG,
        )


def load_stack_config(raw: dict[str, Any], secret_keys: Collection[str] = ()) -> StackConfig:
    """Validate raw config (keys without the project prefix) or raise ConfigError.

    `secret_keys`: the top-level keys the engine marks secret (a nested `secure:` value makes its whole key one)."""
    from .args import WorkspaceArgs
    from .docker_host import resolve_docker_host

    try:
        envelope = StackEnvelope.model_validate(raw)
    except ValidationError as exc:
        lines = [_envelope_error(e) for e in exc.errors(include_url=False)]
        raise ConfigError("invalid stack config:\n  " + "\n  ".join(lines)) from None
    lines = []
    settings = None
    if envelope.target == "kubernetes":
        from .kubernetes import ResolvedKubernetesWorkspace, check_settings  # not imported for a Docker host

        try:
            settings = check_settings(envelope.kubernetes or {}, CONFIG, ("kubernetes",))
        except FieldError as error:
            lines.append(str(error))
    elif envelope.kubernetes is not None:
        lines.append("kubernetes: only for target kubernetes; remove it or set target: kubernetes")
    workspaces: list[StackWorkspace] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(envelope.workspaces):
        where: Path = ("workspaces", index)
        try:
            name = validate_name(entry.get("name"), (*where, "name"), CONFIG)
            if name in seen:
                raise FieldError(
                    (*where, "name"),
                    f"{name!r} is used twice (workspaces[{seen[name]}] and workspaces[{index}]); names must be unique",
                    CONFIG,
                )
            seen[name] = index
            given = {key: value for key, value in entry.items() if key != "name"}
            given.setdefault(CONFIG.key("allow_insecure"), envelope.allow_insecure)
            try:
                if envelope.target == "kubernetes":
                    workspace = resolve_workspace(name, given, CONFIG)
                    resolved: Any = None if settings is None else ResolvedKubernetesWorkspace(workspace, settings)
                else:
                    resolved = workspace = resolve_docker_host(name, given, CONFIG)  # type: ignore[arg-type]
                _refuse_plaintext(workspace.args, WorkspaceArgs, "workspaces" in secret_keys, where)
            except FieldError as error:
                raise error.within(where) from None
            if resolved is not None:  # None: the kubernetes block is wrong, reported once above
                workspaces.append(StackWorkspace(name, resolved))
        except FieldError as error:
            lines.append(str(error))
    if lines:
        raise ConfigError("invalid stack config:\n  " + "\n  ".join(lines))
    return StackConfig(envelope.target, workspaces)
