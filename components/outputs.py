"""What every workspace component reports: the outputs both targets share, computed from the plan.

The security report (`python -m components render`) is built from these registered outputs, so it
describes any program that uses the components, not only this project's stack program.
"""

from typing import Any, Optional, TypeVar

import pulumi

from .security import pod_security_level, security_level
from .strategies.spec import WorkspacePlan

Opts = Optional[pulumi.ResourceOptions]
Resolved = TypeVar("Resolved")


class WorkspaceComponent(pulumi.ComponentResource):
    """Base of the workspace components: their shared outputs.

    A component's `resolved` argument is what its resolve function returned for the same name and args, when the
    caller already has it (the stack program resolves every workspace before registering any); else the component
    resolves its args itself, raising before anything, even the component, is registered.
    """

    strategy: pulumi.Output[str]
    """The strategy the workspace uses."""
    docker_host: pulumi.Output[str]
    """The DOCKER_HOST the workspace uses."""
    security_level: pulumi.Output[str]
    """none | low | medium | high, computed from the containers actually built."""
    pod_security_level: pulumi.Output[str]
    """privileged | baseline | restricted: the least Kubernetes Pod Security Standard that admits the workspace's
    containers (on a Docker host: what they would need on Kubernetes)."""
    privileged_containers: pulumi.Output[list[str]]
    """Roles (workspace, daemon) of the workspace's privileged containers; empty: none is privileged."""
    host_sockets: pulumi.Output[list[str]]
    """Host paths of the sockets mounted into the workspace's containers; empty: none."""
    running: pulumi.Output[bool]
    """Whether the workspace's containers exist (false: stopped, volumes kept)."""

    def _begin(self, token: str, name: str, opts: Opts, resolved: Resolved) -> Resolved:
        """Register the component itself, once its args are resolved."""
        super().__init__(token, name, {}, opts)
        return resolved

    def _set_outputs(self, plan: WorkspacePlan, running: bool, **target_outputs: pulumi.Output[Any]) -> None:
        """Set the shared outputs and the target's own ones, then register them all."""
        shared: dict[str, Any] = {
            "strategy": plan.strategy.value,
            "docker_host": plan.docker_host,
            "security_level": security_level(plan).value,
            "pod_security_level": pod_security_level(plan).value,
            "privileged_containers": sorted(c.role for c in plan.containers if c.privileged),
            "host_sockets": sorted({s.host_path for c in plan.containers for s in c.host_sockets}),
            "running": running,
        }
        outputs = {key: pulumi.Output.from_input(value) for key, value in shared.items()}
        outputs.update(target_outputs)
        for key, value in outputs.items():
            setattr(self, key, value)
        self.register_outputs(outputs)


SHARED_OUTPUTS = tuple(WorkspaceComponent.__annotations__)
"""Names of the outputs every workspace component registers."""
