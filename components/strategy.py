"""The strategy names, shared by every target."""

from enum import Enum


class Strategy(str, Enum):
    """How a workspace gets its Docker daemon."""

    DOOD = "dood"
    """Docker-outside-of-Docker: the host's Docker socket is mounted into the workspace."""
    DIND = "dind"
    """Docker-in-Docker: dockerd runs inside the privileged workspace container."""
    DIND_SIDECAR = "dind-sidecar"
    """A privileged daemon container runs beside an unprivileged workspace."""
    DIND_ROOTLESS = "dind-rootless"
    """dockerd runs under rootlesskit as uid 1000 (the container is still privileged)."""
    SYSBOX = "sysbox"
    """The sysbox-runc runtime runs the workspace as a system container, unprivileged."""
    ENVBOX = "envbox"
    """A privileged outer container (Coder's envbox) runs its own Sysbox and dockerd, and the workspace
    as an unprivileged Sysbox container inside it: Sysbox isolation where the host has no Sysbox."""
    PODMAN = "podman"
    """Rootless Podman as uid 1000 in an unprivileged workspace, serving its Docker-compatible API."""
    DIND_USERNS = "dind-userns"
    """Rootless dockerd in an unprivileged workspace with a user namespace of its own (Kubernetes only)."""

    def __str__(self) -> str:  # so f-strings and error messages print "dind", not "Strategy.DIND"
        return self.value
