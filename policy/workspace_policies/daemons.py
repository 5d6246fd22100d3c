"""daemon-data-root-on-volume: every container that runs dockerd keeps its data root on a volume of its own
(Kubernetes: a PVC); without one the inner dockerd falls back to slow drivers (overlay-on-overlay fails).

Which containers run a daemon: our start script's knobs (`DIW_DOCKERD_*`, in the container's env or, with
Envbuilder, exported by its init script), a dockerd binary in the command line, or a daemon image. Coder's
envbox (`/envbox docker`) runs two: its own, and the nested workspace's (kept at a fixed path of the outer
container).
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from typing import Any, Optional

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .shapes import (
    DOCKER_CONTAINER,
    EXEMPT,
    as_dict,
    as_list,
    config_of,
    declare,
    dig,
    docker_env,
    kubernetes_env,
    norm,
    patterns,
    plain,
    pod_containers,
    pod_spec,
    strings,
    waived,
)

# The start script's knobs (components/workload.py start_env; kept in sync by tests/test_policy.py).
MODE_ENV = "DIW_DOCKERD_MODE"
DATA_ROOT_ENV = "DIW_DOCKERD_DATA_ROOT"
DAEMON_MODES = ("rootful", "rootless", "podman")
"""The modes that start a daemon: the values of the components' DaemonKind (the pack cannot import them)."""
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
ENVBOX_DATA_ROOTS = ("/var/lib/docker", "/var/lib/coder/docker")
"""envbox's own dockerd's data root, and where envbox keeps the nested container's /var/lib/docker (fixed in
coder/envbox cli/docker.go)."""


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
    """Every data root the container's daemons use."""
    if runs_envbox(argv):
        return list(ENVBOX_DATA_ROOTS)
    data_root = daemon_data_root(env, image, argv, daemon_images)
    return [] if data_root is None else [data_root]


def _at_data_root(mount_path: Any, data_root: str) -> bool:
    path = norm(mount_path)
    if path is None:
        return False
    if data_root == ROOTLESS_DATA_ROOT_SUFFIX:
        return path.endswith(ROOTLESS_DATA_ROOT_SUFFIX)
    root = norm(data_root) or data_root
    if path == root:
        return True
    # A data root in a directory of a volume mounted where a data root goes (dind-userns: the PVC's own root is
    # root's, so the daemon keeps its data one level down); a home volume above it does not count.
    at_data_root_place = path.endswith(ROOTLESS_DATA_ROOT_SUFFIX) or path == ROOTFUL_DATA_ROOT
    return at_data_root_place and root.startswith(path.rstrip("/") + "/")


def daemon_data_root_on_volume(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """Every container that runs dockerd mounts a volume (Docker) or PVC (Kubernetes) at its data root."""
    if waived(args):
        return
    daemon_images = strings(config_of(args), "daemonImages", DEFAULT_DAEMON_IMAGES)
    hint = "without its own volume the inner dockerd falls back to vfs/fuse-overlayfs (overlay-on-overlay fails)"
    if args.resource_type == DOCKER_CONTAINER:
        props = plain(args.props)
        argv = [*as_list(props.get("entrypoints")), *as_list(props.get("command"))]
        env = with_init_script_knobs(docker_env(props))
        for data_root in data_roots(env, props.get("image"), argv, daemon_images):
            mounted = any(
                as_dict(m).get("type") == "volume" and _at_data_root(as_dict(m).get("target"), data_root)
                for m in as_list(props.get("mounts"))
            ) or any(
                isinstance(as_dict(v).get("volumeName"), str)
                and _at_data_root(as_dict(v).get("containerPath"), data_root)
                for v in as_list(props.get("volumes"))
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
        for v in map(as_dict, as_list(spec.get("volumes")))
        if isinstance(v.get("persistentVolumeClaim"), dict)
        or isinstance(dig(v, "ephemeral", "volumeClaimTemplate"), dict)
    }
    for label, container in pod_containers(spec):
        argv = [*as_list(container.get("command")), *as_list(container.get("args"))]
        env = with_init_script_knobs(kubernetes_env(container))
        for data_root in data_roots(env, container.get("image"), argv, daemon_images):
            if not any(
                _at_data_root(as_dict(m).get("mountPath"), data_root) and as_dict(m).get("name") in claims
                for m in as_list(container.get("volumeMounts"))
            ):
                report_violation(
                    f"{args.name!r} {label} runs dockerd but mounts no persistentVolumeClaim at {data_root}: {hint}",
                    None,
                )


POLICY = declare(
    "daemon-data-root-on-volume",
    "Every Docker daemon keeps its data root on its own volume (Kubernetes: a PVC).",
    daemon_data_root_on_volume,
    Severity.MEDIUM,
    daemonImages=patterns(
        "Glob patterns of images that run dockerd by default (docker-library's dind).", DEFAULT_DAEMON_IMAGES
    ),
    exemptResources=EXEMPT,
)
