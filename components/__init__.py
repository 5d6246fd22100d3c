"""docker-in-workspaces: development workspaces with a working Docker daemon, by strategy.

```python
from docker_in_workspaces import Strategy, DockerHostWorkspace, KubernetesWorkspace
ws = DockerHostWorkspace("alice", args={"strategy": Strategy.SYSBOX, "image": "codercom/enterprise-base:ubuntu"})
```
"""

from .args import CoderAgentArgs, DockerHostWorkspaceArgs, EnvbuilderArgs, WorkspaceArgs
from .docker_host import DockerHostWorkspace
from .fields import FieldError
from .kubernetes import KubernetesResourcesArgs, KubernetesWorkspace, KubernetesWorkspaceArgs, TolerationArgs
from .security import PodSecurityLevel, SecurityLevel
from .strategies import StrategyError
from .strategy import Strategy

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
