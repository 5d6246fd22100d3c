"""Guardrails for Docker-in-workspaces stacks, as Pulumi policies (pulumi-policy).

One module per policy: its check, a plain function `(args: ResourceValidationArgs, report_violation:
ReportViolation)`, and right after it `POLICY`, its `ResourceValidationPolicy` (name, description, severity,
enforcement level, config schema) made by `shapes.declare`. What the modules share is in `shapes`. Importing this
package starts nothing: the `PolicyPack` (which starts the analyzer's gRPC server) is built only in
`policy/__main__.py`, from POLICIES.

The pack is self-contained (its venv has only pulumi-policy): it must not import `components`. It
recognises our components' resources by what they register (docker `Container` inputs, Kubernetes pod
specs, the start script's `DIW_DOCKERD_*` environment), and anyone else's by the same shapes.

Configuration is per policy, by its name, with the keys of its config schema
(`pulumi preview --policy-pack policy --policy-pack-config config.json`; see policy/config.dev.json).
"""

from __future__ import annotations

from pulumi_policy import ResourceValidationPolicy

from . import confinement, daemons, host_socket, privileged, secret_env, sysbox

POLICY_MODULES = (host_socket, privileged, confinement, sysbox, daemons, secret_env)
"""The pack's policies: adding one is a module with its check and `POLICY`, and its name here."""

POLICIES: list[ResourceValidationPolicy] = [module.POLICY for module in POLICY_MODULES]

__all__ = ["POLICIES", "POLICY_MODULES"]
