"""One program run under the SDK's mocks, in a fresh interpreter: what benchmarks/program_cost.py times.

    python benchmarks/program_run.py PROGRAM CONFIG_JSON PROJECT STACK

Runs PROGRAM (a Pulumi program file, e.g. the repository's `__main__.py` or a generated
literal program) with the engine config in CONFIG_JSON, the way the Python language host
would, and prints one JSON line: the resources registered. It imports nothing but the SDK
and touches no garbage-collector setting, so a program runs at the SDK's defaults unless
the program itself changes them (the repository's entry point does).
"""

from __future__ import annotations

import importlib.util
import json
import os
import runpy
import sys
from typing import Any

import pulumi
import pulumi.runtime.settings


def _provider_outputs() -> Any:
    """components.recording.provider_outputs (what a provider computes that the components read), loaded without
    the `components` package: its imports would be charged to the literal baselines too."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "components", "recording.py")
    spec = importlib.util.spec_from_file_location("_diw_recording", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.provider_outputs


provider_outputs = _provider_outputs()


class EchoMocks(pulumi.runtime.Mocks):
    """Outputs echo inputs plus what a provider computes; an image's id is its reference (the renderer's mocks)."""

    def __init__(self) -> None:
        self.registered = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered += 1
        outputs = {**args.inputs, **provider_outputs(args.typ, args.inputs)}
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = args.inputs.get("name")
        return args.name, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def main(program: str, config_file: str, project: str, stack: str) -> None:
    with open(config_file, encoding="utf-8") as f:
        config = json.load(f)
    sys.path.insert(0, os.path.dirname(os.path.abspath(program)))  # as the language host does
    mocks = EchoMocks()
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)

    @pulumi.runtime.test  # type: ignore[untyped-decorator,unused-ignore]
    def body() -> None:
        pulumi.runtime.set_all_config(config, [])
        runpy.run_path(program, run_name="__main__")

    body()
    print(json.dumps({"resources": mocks.registered + 1}))  # + the stack itself


if __name__ == "__main__":
    main(*sys.argv[1:5])
