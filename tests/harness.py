"""Run Pulumi code under the SDK's mocks and record every registered resource.

The record (type, name, inputs, parent and resource options) is our "preview":
tests assert on it. Mocks are global, so each test builds its components
inside `run()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

PROJECT = "docker-in-workspaces"
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


def unwrap_secrets(value: Any) -> Any:
    """Inputs as plain values (secret wrappers removed)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return unwrap_secrets(value["value"])
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


def plaintext_strings(value: Any) -> list[str]:
    """Every string in `value` that is NOT inside a Pulumi secret."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return []
        return [s for k, v in value.items() for s in [k, *plaintext_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in plaintext_strings(v)]
    if isinstance(value, str):
        return [value]
    return [json.dumps(value)]


@dataclass
class Registered:
    type: str
    name: str
    raw_inputs: dict
    """Inputs as the engine receives them, secrets still wrapped."""
    parent: str
    urn: str
    custom: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: list[str]
    provider: str

    @property
    def inputs(self) -> dict:
        return unwrap_secrets(self.raw_inputs)


@dataclass
class Run:
    resources: list[Registered]
    value: Any = None
    outputs: dict[str, dict] = field(default_factory=dict)
    """register_outputs per URN (the stack's exports are under the stack's URN)."""

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, name: Optional[str] = None) -> Registered:
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, got {[r.name for r in found]}"
        return found[0]

    def names(self, typ: str) -> list[str]:
        return [r.name for r in self.of_type(typ)]

    @property
    def stack_outputs(self) -> dict:
        for urn, outputs in self.outputs.items():
            if urn.endswith("pulumi:pulumi:Stack::" + f"{PROJECT}-test"):
                return outputs
        return {}


class RecordingMocks(pulumi.runtime.Mocks):
    """Echo inputs back as outputs; give images an id like the provider would."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{abs(hash(args.inputs.get('name'))):064x}"[:71]
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[Registered] = []
        self.outputs: dict[str, dict] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.records.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    raw_inputs=rpc.deserialize_properties(request.object),
                    parent=request.parent,
                    urn=response.urn,
                    custom=request.custom,
                    retain_on_delete=request.retainOnDelete,
                    delete_before_replace=request.deleteBeforeReplace,
                    dependencies=list(request.dependencies),
                    provider=request.provider,
                )
            )
        return response

    def RegisterResourceOutputs(self, request):
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def run(program: Callable[[], Any], *, stack: str = "test", preview: bool = False) -> Run:
    """Run `program` under mocks; its return value (Outputs resolved) is `Run.value`.

    If the program raises, that exception propagates with `.registered` set to the
    resources registered before it.
    """
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)  # a fresh Stack per run: exports must not leak between tests
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=f"{PROJECT}-{stack}", preview=preview, monitor=monitor)
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def body():
        value = program()
        return pulumi.Output.from_input(value).apply(lambda v: result.update(value=v))

    try:
        body()
    except Exception as exc:
        exc.registered = monitor.records  # type: ignore[attr-defined]
        raise
    return Run(resources=monitor.records, value=result.get("value"), outputs=monitor.outputs)
