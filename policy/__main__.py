"""Entry point of the policy pack: `pulumi preview --policy-pack policy/`.

Constructing `PolicyPack` starts the analyzer's gRPC server and blocks, so it happens here and
nowhere else; tests import `policy.workspace_policies` instead.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# Pulumi runs this file with the pack's directory as the program directory; make the sibling
# module importable however the interpreter was started.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workspace_policies import POLICIES  # noqa: E402

PolicyPack(
    name="docker-in-workspaces",
    description="Guardrails for workspaces with a Docker daemon: host socket, privileged, sysbox, data roots, secrets.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
