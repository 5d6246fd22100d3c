"""Guardrails for Docker-in-workspaces stacks, as Pulumi policies (pulumi-policy).

Every policy is a plain function `(args: ResourceValidationArgs, report_violation: ReportViolation)`;
`POLICIES` wraps them in `ResourceValidationPolicy` objects with their config schema. Importing this
module starts nothing: the `PolicyPack` (which starts the analyzer's gRPC server) is built only in
`policy/__main__.py`.

The pack is self-contained (its venv has only pulumi-policy): it must not import `components`. It
recognises our components' resources by what they register (docker `Container` inputs, Kubernetes pod
specs, the start script's `DIW_DOCKERD_*` environment), and anyone else's by the same shapes.

Configuration is per policy (`pulumi preview --policy-pack policy --policy-pack-config config.json`):

    {
      "no-host-docker-socket": {"allowHostDockerSocket": false, "exemptResources": ["erin"]},
      "no-privileged-container": {"allowPrivileged": false, "exemptResources": []},
      "sysbox-isolation": {"sysboxRuntimes": ["*sysbox*"]},
      "daemon-data-root-on-volume": {"daemonImages": ["docker:*dind*", "*/docker:*dind*"]},
      "no-secret-in-plain-env": {"sensitiveNamePatterns": [], "allowedNames": []}
    }

What the policies can see of Pulumi secrets: the engine sends resource inputs to the analyzer with
secrets marked, but pulumi-policy's `Analyze` (the validation path) deserializes them without the
marker (`deserialize_properties(..., proxy_secrets=False)`): a validation sees a secret's plaintext
and cannot tell it was secret. Only its `Remediate` path keeps the marker (`pulumi_policy.Secret`).
So `no-secret-in-plain-env` validates Kubernetes workloads (where a sensitive variable must come from
`valueFrom.secretKeyRef`, whether or not the value was a Pulumi secret: a plain `value` is plaintext
in the cluster either way) and, for Docker containers (whose env has no secret references), remediates:
with its default enforcement level `remediate`, every sensitive env entry that is not already a
Pulumi secret is turned into one, so it is encrypted in state and masked in diffs. It cannot stop the
value from being visible to `docker inspect` on the host; nothing in Pulumi can.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    Severity,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

DOCKER_CONTAINER = "docker:index/container:Container"

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:PodTemplate": ("template", "spec"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where each Kubernetes workload type keeps its pod spec (server-side-apply `...Patch` types too)."""
_POD_SPEC_PATHS.update({f"{typ}Patch": path for typ, path in list(_POD_SPEC_PATHS.items())})

# The start script's knobs (components/workload.py start_env; kept in sync by tests/test_policy.py).
MODE_ENV = "DIW_DOCKERD_MODE"
DATA_ROOT_ENV = "DIW_DOCKERD_DATA_ROOT"
DAEMON_MODES = ("rootful", "rootless")
START_SCRIPT_NAME = "start-docker.sh"
ENVBUILDER_INIT_SCRIPT = "ENVBUILDER_INIT_SCRIPT"
"""With Envbuilder the knobs are `export DIW_...=<shell-quoted>` lines of its init script, not container env."""
_EXPORT_LINE = re.compile(r"^export (DIW_[A-Z0-9_]+)=(.*)$", re.MULTILINE)
ROOTFUL_DATA_ROOT = "/var/lib/docker"
ROOTLESS_DATA_ROOT_SUFFIX = "/.local/share/docker"
"""Rootless dockerd's default data root is `$HOME/.local/share/docker`; the policy cannot know $HOME."""
DIND_ROOTLESS_DATA_ROOT = "/home/rootless/.local/share/docker"
"""The data root of docker-library's `docker:*-dind-rootless` images (user `rootless`)."""
_DOCKERD_BINARIES = ("dockerd", "dockerd-rootless.sh", "dockerd-entrypoint.sh")

DEFAULT_DAEMON_IMAGES = ["docker:*dind*", "*/docker:*dind*"]
ENVBOX_PROGRAM = ("envbox", "docker")
"""Coder's envbox (`/envbox docker`): it runs its own dockerd, and the workspace's dockerd in the nested container."""
ENVBOX_DATA_ROOTS = ("/var/lib/docker", "/var/lib/coder/docker")
"""envbox's own dockerd's data root, and where envbox keeps the nested container's /var/lib/docker (fixed in
coder/envbox cli/docker.go)."""
DEFAULT_SYSBOX_RUNTIMES = ["*sysbox*"]
DEFAULT_SENSITIVE_NAME = re.compile(
    r"TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|DOCKER_?CONFIG|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY", re.IGNORECASE
)
"""Env names that look like they carry a secret (CODER_AGENT_TOKEN, ENVBUILDER_DOCKER_CONFIG_BASE64, ...)."""

_SOCKET_DIRECTORIES = re.compile(r"^/(var(/run)?|run(/user(/\d+)?)?)?$")
"""Directories that hold a Docker socket (/var/run/docker.sock, /run/user/<uid>/docker.sock): binding them
binds the socket."""


class _Unknown:
    """A value the engine does not know yet (preview). Never equal to anything we look for."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()
_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


# --- reading resource inputs -------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Inputs as plain dicts/lists/scalars; unknowns (preview) become UNKNOWN instead of raising.

    pulumi-policy hands validations an `unknown_checking_proxy` that raises on any unknown value;
    reading through this, one unknown field does not stop a policy from judging the known ones.
    (During `pulumi up` every input is known, so a check skipped in preview runs then.)
    """
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str):
        return UNKNOWN if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result = {}
        for key in value:
            try:
                item = value[key]
            except UnknownValueError:
                item = UNKNOWN
            result[key] = plain(item)
        return result
    if isinstance(value, Sequence):
        items = []
        for index in range(len(value)):
            try:
                item = value[index]
            except UnknownValueError:
                item = UNKNOWN
            items.append(plain(item))
        return items
    return value


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _config(args: ResourceValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def _strings(config: Mapping[str, Any], key: str, default: Optional[list[str]] = None) -> list[str]:
    value = config.get(key)
    if value is None:
        return list(default or [])
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _exempt(args: ResourceValidationArgs, config: Mapping[str, Any]) -> bool:
    """`exemptResources`: glob patterns on the resource's name (e.g. the workspace name `erin`)."""
    return any(fnmatch.fnmatchcase(args.name, pattern) for pattern in _strings(config, "exemptResources"))


def pod_spec(args: ResourceValidationArgs) -> Optional[dict]:
    """The pod spec of a Kubernetes workload, or None for other resource types."""
    path = _POD_SPEC_PATHS.get(args.resource_type)
    if path is None:
        return None
    spec = _dig(plain(args.props), *path)
    return spec if isinstance(spec, dict) else None


def pod_containers(spec: dict) -> Iterator[tuple[str, dict]]:
    """(`containers[i]` / `initContainers[i]` / `ephemeralContainers[i]` label, container) of a pod spec."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in _list(spec.get(field)):
            if isinstance(container, dict):
                name = container.get("name")
                yield (f"{field}[{name}]" if isinstance(name, str) else field), container


def docker_env(props: dict) -> dict[str, Any]:
    """A docker Container's `envs` ("KEY=VALUE" strings) as a dict; unknown entries are skipped."""
    env: dict[str, Any] = {}
    for entry in _list(props.get("envs")):
        if isinstance(entry, str) and "=" in entry:
            key, value = entry.split("=", 1)
            env[key] = value
    return env


def with_init_script_knobs(env: dict[str, Any]) -> dict[str, Any]:
    """`env` plus the `DIW_*` knobs exported at the top of an Envbuilder init script (env wins)."""
    script = env.get(ENVBUILDER_INIT_SCRIPT)
    if not isinstance(script, str):
        return env
    knobs: dict[str, Any] = {}
    for key, quoted in _EXPORT_LINE.findall(script.split("<<", 1)[0]):  # only before the script's heredoc
        try:
            words = shlex.split(quoted)
        except ValueError:
            continue
        if len(words) == 1:
            knobs[key] = words[0]
    return {**knobs, **env}


def kubernetes_env(container: dict) -> dict[str, Any]:
    """Plain `value`s of a Kubernetes container's env (entries from `valueFrom` are not known here)."""
    return {
        e["name"]: e.get("value")
        for e in _list(container.get("env"))
        if isinstance(e, dict) and isinstance(e.get("name"), str) and "value" in e
    }


def _norm(path: Any) -> Optional[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    normalized = posixpath.normpath(path)
    return "/" if normalized.startswith("//") else normalized


def exposes_docker_socket(host_path: Any) -> bool:
    """A host path that is a Docker socket (`*docker.sock`) or a directory holding the usual ones."""
    path = _norm(host_path)
    if path is None:
        return False
    return fnmatch.fnmatchcase(posixpath.basename(path), "*docker.sock") or bool(_SOCKET_DIRECTORIES.match(path))


# --- which containers run a Docker daemon -------------------------------------------------------------------------


def _flag_value(argv: list[str], flag: str) -> Optional[str]:
    for index, arg in enumerate(argv):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and index + 1 < len(argv):
            return argv[index + 1]
    return None


def daemon_data_root(env: dict[str, Any], image: Any, argv: list[Any], daemon_images: list[str]) -> Optional[str]:
    """The data root of the dockerd this container runs, or None if it runs none.

    Returns an absolute path, or ROOTLESS_DATA_ROOT_SUFFIX when rootless dockerd uses its
    default `$HOME/.local/share/docker` (any mount path ending in it counts).
    """
    argv = [a for a in argv if isinstance(a, str)]
    explicit = env.get(DATA_ROOT_ENV)
    explicit = explicit if isinstance(explicit, str) and explicit else None
    mode = env.get(MODE_ENV)
    if mode in DAEMON_MODES or (mode is None and any(a.endswith(START_SCRIPT_NAME) for a in argv)):
        # Our start script (default mode rootful).
        if explicit:
            return explicit
        return ROOTLESS_DATA_ROOT_SUFFIX if mode == "rootless" else ROOTFUL_DATA_ROOT
    if mode in ("wait", "none"):
        return None  # the start script starts no daemon here
    if any(posixpath.basename(a) in _DOCKERD_BINARIES for a in argv):
        rootless = any("rootless" in posixpath.basename(a) for a in argv)
        flag = _flag_value(argv, "--data-root")
        return explicit or flag or (ROOTLESS_DATA_ROOT_SUFFIX if rootless else ROOTFUL_DATA_ROOT)
    if isinstance(image, str) and any(fnmatch.fnmatchcase(image, p) for p in daemon_images):
        return explicit or (DIND_ROOTLESS_DATA_ROOT if "rootless" in image else ROOTFUL_DATA_ROOT)
    return None


def runs_envbox(argv: list[Any]) -> bool:
    """`/envbox docker` anywhere in the container's entrypoint and command (after a wrapper's `exec "$@"`, too)."""
    words = [posixpath.basename(a) if isinstance(a, str) else a for a in argv]
    return any(tuple(words[i : i + 2]) == ENVBOX_PROGRAM for i in range(len(words) - 1))


def data_roots(env: dict[str, Any], image: Any, argv: list[Any], daemon_images: list[str]) -> list[str]:
    """Every data root a container's daemons use: envbox runs two (its own and the nested workspace's)."""
    if runs_envbox(argv):
        return list(ENVBOX_DATA_ROOTS)
    data_root = daemon_data_root(env, image, argv, daemon_images)
    return [] if data_root is None else [data_root]


def _at_data_root(mount_path: Any, data_root: str) -> bool:
    path = _norm(mount_path)
    if path is None:
        return False
    if data_root == ROOTLESS_DATA_ROOT_SUFFIX:
        return path.endswith(ROOTLESS_DATA_ROOT_SUFFIX)
    return path == _norm(data_root)


# --- the policies -------------------------------------------------------------------------------------------------


def no_host_docker_socket(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No bind/hostPath of the host's Docker socket, unless `allowHostDockerSocket` (or the resource is exempt)."""
    config = _config(args)
    if config.get("allowHostDockerSocket") is True or _exempt(args, config):
        return
    hint = "the workspace controls the host's Docker daemon (root on the host); use dind, dind-rootless or sysbox"
    if args.resource_type == DOCKER_CONTAINER:
        props = plain(args.props)
        for mount in _list(props.get("mounts")):
            if _dict(mount).get("type") == "bind" and exposes_docker_socket(_dict(mount).get("source")):
                report_violation(
                    f"container {args.name!r} binds the host's {mount['source']} at {mount.get('target')}: {hint}",
                    None,
                )
        for volume in _list(props.get("volumes")):
            if exposes_docker_socket(_dict(volume).get("hostPath")):
                report_violation(
                    f"container {args.name!r} mounts the host's {volume['hostPath']} at "
                    f"{volume.get('containerPath')}: {hint}",
                    None,
                )
        return
    spec = pod_spec(args)
    if spec is None:
        return
    for volume in _list(spec.get("volumes")):
        host_path = _dig(volume, "hostPath", "path")
        if exposes_docker_socket(host_path):
            report_violation(
                f"{args.resource_type.rsplit(':', 1)[-1]} {args.name!r}: volume {_dict(volume).get('name')!r} is "
                f"the node's {host_path} (hostPath): {hint}",
                None,
            )


def no_privileged_container(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No privileged container, unless `allowPrivileged` (or the resource is exempt)."""
    config = _config(args)
    if config.get("allowPrivileged") is True or _exempt(args, config):
        return
    hint = "a privileged container can take over its host; use sysbox, or acknowledge with allowPrivileged"
    if args.resource_type == DOCKER_CONTAINER:
        if plain(args.props).get("privileged") is True:
            report_violation(f"container {args.name!r} is privileged: {hint}", None)
        return
    spec = pod_spec(args)
    if spec is None:
        return
    for label, container in pod_containers(spec):
        if _dig(container, "securityContext", "privileged") is True:
            report_violation(f"{args.name!r} {label} is privileged: {hint}", None)


def sysbox_isolation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Sysbox workloads are never privileged and never share the host's network, PID or IPC namespace."""
    runtimes = _strings(_config(args), "sysboxRuntimes", DEFAULT_SYSBOX_RUNTIMES)

    def is_sysbox(runtime: Any) -> bool:
        return isinstance(runtime, str) and any(fnmatch.fnmatchcase(runtime, p) for p in runtimes)

    hint = "this undoes sysbox's isolation (its user namespace and unprivileged root)"
    if args.resource_type == DOCKER_CONTAINER:
        props = plain(args.props)
        if not is_sysbox(props.get("runtime")):
            return
        if props.get("privileged") is True:
            report_violation(f"sysbox container {args.name!r} is privileged: {hint}", None)
        for key, what in (("networkMode", "network"), ("pidMode", "PID"), ("ipcMode", "IPC"), ("usernsMode", "user")):
            if props.get(key) == "host":
                report_violation(f"sysbox container {args.name!r} uses the host's {what} namespace ({key}: host)", None)
        return
    spec = pod_spec(args)
    if spec is None or not is_sysbox(spec.get("runtimeClassName")):
        return
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key) is True:
            report_violation(f"sysbox pod {args.name!r} sets {key}: true: {hint}", None)
    for label, container in pod_containers(spec):
        if _dig(container, "securityContext", "privileged") is True:
            report_violation(f"sysbox pod {args.name!r}: {label} is privileged: {hint}", None)


def daemon_data_root_on_volume(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every container that runs dockerd mounts a volume (Docker) or PVC (Kubernetes) at its data root."""
    config = _config(args)
    if _exempt(args, config):
        return
    daemon_images = _strings(config, "daemonImages", DEFAULT_DAEMON_IMAGES)
    hint = "without its own volume the inner dockerd falls back to vfs/fuse-overlayfs (overlay-on-overlay fails)"
    if args.resource_type == DOCKER_CONTAINER:
        props = plain(args.props)
        argv = [*_list(props.get("entrypoints")), *_list(props.get("command"))]
        env = with_init_script_knobs(docker_env(props))
        for data_root in data_roots(env, props.get("image"), argv, daemon_images):
            mounted = any(
                _dict(m).get("type") == "volume" and _at_data_root(_dict(m).get("target"), data_root)
                for m in _list(props.get("mounts"))
            ) or any(
                isinstance(_dict(v).get("volumeName"), str) and _at_data_root(_dict(v).get("containerPath"), data_root)
                for v in _list(props.get("volumes"))
            )
            if not mounted:
                report_violation(
                    f"container {args.name!r} runs dockerd but has no volume mount at {data_root}: {hint}", None
                )
        return
    spec = pod_spec(args)
    if spec is None:
        return
    claims = {
        v.get("name")
        for v in map(_dict, _list(spec.get("volumes")))
        if isinstance(v.get("persistentVolumeClaim"), dict)
        or isinstance(_dig(v, "ephemeral", "volumeClaimTemplate"), dict)
    }
    for label, container in pod_containers(spec):
        argv = [*_list(container.get("command")), *_list(container.get("args"))]
        env = with_init_script_knobs(kubernetes_env(container))
        for data_root in data_roots(env, container.get("image"), argv, daemon_images):
            if not any(
                _at_data_root(_dict(m).get("mountPath"), data_root) and _dict(m).get("name") in claims
                for m in _list(container.get("volumeMounts"))
            ):
                report_violation(
                    f"{args.name!r} {label} runs dockerd but mounts no persistentVolumeClaim at {data_root}: {hint}",
                    None,
                )


def is_sensitive_name(name: str, config: Mapping[str, Any]) -> bool:
    if name in _strings(config, "allowedNames"):
        return False
    if name.upper().endswith(("_FILE", "_PATH")):  # names where the secret is (CODER_AGENT_TOKEN_FILE), not it
        return False
    if DEFAULT_SENSITIVE_NAME.search(name):
        return True
    return any(re.search(p, name, re.IGNORECASE) for p in _strings(config, "sensitiveNamePatterns"))


def no_secret_in_plain_env(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Kubernetes: a sensitive env variable comes from `valueFrom.secretKeyRef`, never a plain `value`.

    Docker containers have no secret references, and a validation cannot see whether a value was a
    Pulumi secret (see the module docstring): they are handled by `secret_env_remediation`.
    """
    spec = pod_spec(args)
    if spec is None:
        return
    config = _config(args)
    for label, container in pod_containers(spec):
        for entry in map(_dict, _list(container.get("env"))):
            name = entry.get("name")
            if not isinstance(name, str) or not is_sensitive_name(name, config):
                continue
            if entry.get("value") not in (None, ""):
                report_violation(
                    f"{args.name!r} {label}: env {name} has a plain value; put it in a Secret and use "
                    "valueFrom.secretKeyRef (a plain value is readable by anyone who can read the pod spec)",
                    None,
                )
            elif isinstance(_dig(entry, "valueFrom", "configMapKeyRef"), dict):
                report_violation(
                    f"{args.name!r} {label}: env {name} comes from a ConfigMap; use valueFrom.secretKeyRef", None
                )


def _raw(props: Any) -> Any:
    """The target of pulumi-policy's secrets-preserving proxy (Secret markers intact), or props itself."""
    try:
        return props["__target"]
    except (KeyError, TypeError):
        return props


def secret_env_remediation(args: ResourceValidationArgs) -> Optional[Mapping[str, Any]]:
    """Docker: sensitive `envs` entries that are not Pulumi secrets become secrets (remediate level only).

    Remediations get the inputs with their secret markers (`pulumi_policy.Secret`); validations don't.
    """
    if args.resource_type != DOCKER_CONTAINER:
        return None
    raw = _raw(args.props)
    envs = raw.get("envs") if isinstance(raw, Mapping) else None
    if isinstance(envs, Secret):
        return None  # the whole list is already secret
    envs = _raw(envs)
    if not isinstance(envs, list):
        return None  # no env, or not known yet (preview)
    config = _config(args)
    changed = False
    entries = []
    for entry in envs:
        if isinstance(entry, str) and "=" in entry and is_sensitive_name(entry.split("=", 1)[0], config):
            entry = Secret(entry)
            changed = True
        entries.append(entry)
    if not changed:
        return None
    return {**{key: raw[key] for key in raw}, "envs": entries}


# --- the policy objects (a PolicyPack is built from them in __main__.py) ------------------------------------------

_EXEMPT = {
    "type": "array",
    "items": {"type": "string"},
    "default": [],
    "description": "Glob patterns on resource names (e.g. a workspace name) this policy does not apply to.",
}

POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="no-host-docker-socket",
        description="No container mounts the host's Docker socket (security level none), unless allowed.",
        validate=no_host_docker_socket,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.CRITICAL,
        config_schema=PolicyConfigSchema(
            {
                "allowHostDockerSocket": {
                    "type": "boolean",
                    "default": False,
                    "description": "Allow dood: workspaces that mount the host's Docker socket are root on the host.",
                },
                "exemptResources": _EXEMPT,
            }
        ),
    ),
    ResourceValidationPolicy(
        name="no-privileged-container",
        description="No privileged container (dind, dind-sidecar, dind-rootless), unless allowed.",
        validate=no_privileged_container,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(
            {
                "allowPrivileged": {
                    "type": "boolean",
                    "default": False,
                    "description": "Allow privileged containers (security levels low and medium).",
                },
                "exemptResources": _EXEMPT,
            }
        ),
    ),
    ResourceValidationPolicy(
        name="sysbox-isolation",
        description="Sysbox workloads are neither privileged nor on the host's network, PID or IPC namespace.",
        validate=sysbox_isolation,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(
            {
                "sysboxRuntimes": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": DEFAULT_SYSBOX_RUNTIMES,
                    "description": "Glob patterns of runtime / RuntimeClass names that are sysbox.",
                }
            }
        ),
    ),
    ResourceValidationPolicy(
        name="daemon-data-root-on-volume",
        description="Every Docker daemon keeps its data root on its own volume (Kubernetes: a PVC).",
        validate=daemon_data_root_on_volume,
        enforcement_level=EnforcementLevel.MANDATORY,
        severity=Severity.MEDIUM,
        config_schema=PolicyConfigSchema(
            {
                "daemonImages": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": DEFAULT_DAEMON_IMAGES,
                    "description": "Glob patterns of images that run dockerd by default (docker-library's dind).",
                },
                "exemptResources": _EXEMPT,
            }
        ),
    ),
    ResourceValidationPolicy(
        name="no-secret-in-plain-env",
        description=(
            "Sensitive environment variables (TOKEN, PASSWORD, SECRET, CREDENTIAL, DOCKER_CONFIG, API_KEY, ...) "
            "come from a Kubernetes Secret; on Docker they are Pulumi secrets."
        ),
        validate=no_secret_in_plain_env,
        remediate=secret_env_remediation,
        enforcement_level=EnforcementLevel.REMEDIATE,
        severity=Severity.HIGH,
        config_schema=PolicyConfigSchema(
            {
                "sensitiveNamePatterns": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                    "description": "More regular expressions (case-insensitive) for sensitive variable names.",
                },
                "allowedNames": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                    "description": "Variable names never treated as sensitive.",
                },
            }
        ),
    ),
]

__all__ = [
    "POLICIES",
    "daemon_data_root_on_volume",
    "no_host_docker_socket",
    "no_privileged_container",
    "no_secret_in_plain_env",
    "secret_env_remediation",
    "sysbox_isolation",
]
