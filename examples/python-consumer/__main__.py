"""Two development workspaces on the Docker host, from a Python Pulumi program that imports the components."""

import pulumi
from docker_in_workspaces import DockerHostWorkspace, DockerHostWorkspaceArgs, Strategy

config = pulumi.Config()
image = config.get("image") or "codercom/enterprise-base:ubuntu"

# sysbox: no privileged container, no host socket (security level "high"); needs sysbox-runc on the host.
alice = DockerHostWorkspace("alice", args={"strategy": Strategy.SYSBOX, "image": image})

# A privileged dockerd beside an unprivileged workspace, with the inner MTU of a GKE-like network.
# Rated "low": refused unless acknowledged.
bob_args: DockerHostWorkspaceArgs = {
    "strategy": Strategy.DIND_SIDECAR,
    "allow_insecure": True,
    "image": image,
    "mtu": 1460,
    "env": {"TZ": "Europe/Berlin"},
}
bob = DockerHostWorkspace("bob", args=bob_args)

for name, workspace in {"alice": alice, "bob": bob}.items():
    pulumi.export(f"{name}DockerHost", workspace.docker_host)
    pulumi.export(f"{name}SecurityLevel", workspace.security_level)
    pulumi.export(f"{name}Volumes", workspace.volume_names)
