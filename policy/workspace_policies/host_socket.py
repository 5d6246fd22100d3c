"""no-host-docker-socket: no container binds the host's Docker socket (dood: root on the host), unless allowed."""

from __future__ import annotations

import fnmatch
import posixpath
import re
from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from .shapes import (
    DOCKER_CONTAINER,
    EXEMPT,
    as_dict,
    as_list,
    declare,
    dig,
    flag,
    norm,
    plain,
    pod_spec,
    waived,
)

_SOCKET_DIRECTORIES = re.compile(r"^/(var(/run)?|run(/user(/\d+)?)?)?$")
"""Directories that hold a Docker socket (/var/run/docker.sock, /run/user/<uid>/docker.sock): binding them
binds the socket."""


def exposes_docker_socket(host_path: Any) -> bool:
    """A host path that is a Docker socket (`*docker.sock`) or a directory holding the usual ones."""
    path = norm(host_path)
    if path is None:
        return False
    return fnmatch.fnmatchcase(posixpath.basename(path), "*docker.sock") or bool(_SOCKET_DIRECTORIES.match(path))


def no_host_docker_socket(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    """No bind/hostPath of the host's Docker socket, unless `allowHostDockerSocket` (or the resource is exempt)."""
    if waived(args, "allowHostDockerSocket"):
        return
    hint = "the workspace controls the host's Docker daemon (root on the host); use dind, dind-rootless or sysbox"
    if args.resource_type == DOCKER_CONTAINER:
        props = plain(args.props)
        for mount in as_list(props.get("mounts")):
            if as_dict(mount).get("type") == "bind" and exposes_docker_socket(as_dict(mount).get("source")):
                report_violation(
                    f"container {args.name!r} binds the host's {mount['source']} at {mount.get('target')}: {hint}",
                    None,
                )
        for volume in as_list(props.get("volumes")):
            if exposes_docker_socket(as_dict(volume).get("hostPath")):
                report_violation(
                    f"container {args.name!r} mounts the host's {volume['hostPath']} at "
                    f"{volume.get('containerPath')}: {hint}",
                    None,
                )
        return
    spec = pod_spec(args)
    if spec is None:
        return
    for volume in as_list(spec.get("volumes")):
        host_path = dig(volume, "hostPath", "path")
        if exposes_docker_socket(host_path):
            report_violation(
                f"{args.resource_type.rsplit(':', 1)[-1]} {args.name!r}: volume {as_dict(volume).get('name')!r} is "
                f"the node's {host_path} (hostPath): {hint}",
                None,
            )


POLICY = declare(
    "no-host-docker-socket",
    "No container mounts the host's Docker socket (security level none), unless allowed.",
    no_host_docker_socket,
    Severity.CRITICAL,
    allowHostDockerSocket=flag("Allow dood: workspaces that mount the host's Docker socket are root on the host."),
    exemptResources=EXEMPT,
)
