"""docker-in-workspaces: development workspaces with a working Docker daemon, by strategy.

```python
from docker_in_workspaces import Strategy, DockerHostWorkspace, KubernetesWorkspace
ws = DockerHostWorkspace("alice", args={"strategy": Strategy.SYSBOX, "image": "codercom/enterprise-base:ubuntu"})
```
"""

from typing import TYPE_CHECKING, Any

from .args import CoderAgentArgs, DockerHostWorkspaceArgs, EnvbuilderArgs, WorkspaceArgs
from .docker_host import DockerHostWorkspace
from .fields import FieldError
from .security import PodSecurityLevel, SecurityLevel
from .strategies import StrategyError
from .strategy import Strategy

if TYPE_CHECKING:
    from .kubernetes import KubernetesResourcesArgs, KubernetesWorkspace, KubernetesWorkspaceArgs, TolerationArgs

_KUBERNETES = frozenset({"KubernetesResourcesArgs", "KubernetesWorkspace", "KubernetesWorkspaceArgs", "TolerationArgs"})


def __getattr__(name: str) -> Any:
    """The Kubernetes half is imported when first named: pulumi_kubernetes takes about 0.6 s to import, which a
    Docker-host program never needs."""
    if name in _KUBERNETES:
        from . import kubernetes

        return getattr(kubernetes, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CoderAgentArgs",
    "DockerHostWorkspace",
    "DockerHostWorkspaceArgs",
    "EnvbuilderArgs",
    "FieldError",
    "KubernetesResourcesArgs",
    "KubernetesWorkspace",
    "KubernetesWorkspaceArgs",
    "PodSecurityLevel",
    "SecurityLevel",
    "Strategy",
    "StrategyError",
    "TolerationArgs",
    "WorkspaceArgs",
]
