"""A consumer of the public API, type-checked by mypy --strict against the installed wheel (tests/test_packaging.py).

Each `# type: ignore[code]` line is a misuse mypy must reject: with warn_unused_ignores, an ignore that
mypy no longer needs (because the API lost its types) is itself an error.
"""

import pulumi
from docker_in_workspaces import (
    CoderAgentArgs,
    DockerHostWorkspace,
    DockerHostWorkspaceArgs,
    KubernetesWorkspace,
    KubernetesWorkspaceArgs,
    SecurityLevel,
    Strategy,
)
from typing_extensions import assert_type

agent: CoderAgentArgs = {
    "url": "https://coder.example.com",
    "token": pulumi.Output.secret("token"),
    "init_script": "exec coder agent",
}
args: DockerHostWorkspaceArgs = {"strategy": Strategy.DIND, "image": "codercom/enterprise-base:ubuntu"}
args["coder_agent"] = agent
args["mtu"] = 1460

ws = DockerHostWorkspace("alice", args=args, opts=pulumi.ResourceOptions(protect=True))
assert_type(ws.docker_host, pulumi.Output[str])
assert_type(ws.security_level, pulumi.Output[str])
assert_type(ws.volume_names, pulumi.Output[list[str]])
assert_type(ws.running, pulumi.Output[bool])
strategy_name: str = Strategy.SYSBOX.value
level: SecurityLevel = SecurityLevel("high")

k8s_args: KubernetesWorkspaceArgs = {"strategy": Strategy.SYSBOX, "image": "x", "namespace": "workspaces"}
k8s = KubernetesWorkspace("bob", args=k8s_args)
assert_type(k8s.docker_host, pulumi.Output[str])

DockerHostWorkspace("carol", args={"strategy": "dind"})  # type: ignore[typeddict-item]
DockerHostWorkspace("dave", args={"imag": "x"})  # type: ignore[typeddict-unknown-key]
DockerHostWorkspace("erin", args={"mtu": "1460"})  # type: ignore[typeddict-item]
bad_agent: CoderAgentArgs = {"url": "https://coder.example.com"}  # type: ignore[typeddict-item]
