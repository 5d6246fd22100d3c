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

from components.recording import (
    SECRET_SIG,
    SIG_KEY,
    Recorded,
    RecordingMonitor,
    is_secret,
    provider_outputs,
    record,
    unwrap_secrets,
)

PROJECT = "docker-in-workspaces"
Registered = Recorded
"""One registered resource; `.inputs` in the tests are its raw inputs without secret wrappers."""
__all__ = [
    "PROJECT",
    "SECRET_SIG",
    "SIG_KEY",
    "Recorded",
    "Registered",
    "RecordingMocks",
    "RecordingMonitor",
    "Run",
    "is_secret",
    "plaintext_strings",
    "record",
    "run",
    "unwrap_secrets",
]


def plaintext_strings(value: Any) -> list[str]:
    """Every string in `value` that is NOT inside a Pulumi secret."""
    if isinstance(value, dict):
        if is_secret(value):
            return []
        return [s for k, v in value.items() for s in [k, *plaintext_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in plaintext_strings(v)]
    if isinstance(value, str):
        return [value]
    return [json.dumps(value)]


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
        outputs = {**args.inputs, **provider_outputs(args.typ, args.inputs)}
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{abs(hash(args.inputs.get('name'))):064x}"[:71]
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def run(program: Callable[[], Any], *, stack: str = "test", preview: bool = False) -> Run:
    """Run `program` under mocks; its return value (Outputs resolved) is `Run.value`.

    If the program raises, that exception propagates with `.registered` set to the
    resources registered before it.
    """
    recording = record(program, RecordingMocks(), project=PROJECT, stack=f"{PROJECT}-{stack}", preview=preview)
    return Run(resources=recording.records, value=recording.value, outputs=recording.outputs)
