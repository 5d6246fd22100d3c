"""Run Pulumi code under the SDK's mocks and record every resource it registers.

The record (type, name, inputs with secrets still marked, parent, resource options)
is what `pulumi preview` would send the engine: the renderer writes it out, the tests
assert on it, and the e2e harness replays it on a real Docker engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi.runtime.settings
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key


DOCKER_VOLUME = "docker:index/volume:Volume"


def provider_outputs(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs a provider computes that the components read, as a default host would give them."""
    if typ == DOCKER_VOLUME and inputs.get("name"):
        # The local driver's layout under the default data root.
        return {"mountpoint": f"/var/lib/docker/volumes/{inputs['name']}/_data"}
    return {}


def is_secret(value: Any) -> bool:
    """A value the engine received marked secret ({sig: <secret sig>, value: ...})."""
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap_secrets(value: Any) -> Any:
    """Inputs as plain values (secret wrappers removed)."""
    if is_secret(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


@dataclass
class Recorded:
    type: str
    name: str
    raw_inputs: dict[str, Any]
    """Inputs as the engine receives them, secrets still wrapped as {sig: ..., value: ...}."""
    parent: str
    urn: str
    custom: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: list[str]
    provider: str

    @property
    def inputs(self) -> dict[str, Any]:
        """The inputs as plain values: for assertions, never for output (secrets are in the clear)."""
        return dict(unwrap_secrets(self.raw_inputs))


@dataclass
class Recording:
    records: list[Recorded]
    value: Any = None
    """What the program returned, Outputs resolved."""
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """register_outputs per URN."""


class _SeenInputs(pulumi.runtime.Mocks):
    """Hands every call on to `mocks`, keeping the inputs the mock monitor deserialized for `new_resource`: the
    recording reuses them instead of deserializing each request a second time (about 1 s per 1000 workspaces).
    The monitor runs registrations on executor threads, hence per thread."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        self.mocks = mocks
        self.last = threading.local()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[Optional[str], dict[Any, Any]]:
        self.last.inputs = args.inputs
        return self.mocks.new_resource(args)

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        return self.mocks.call(args)

    def __getattr__(self, name: str) -> Any:  # register_transform and whatever later SDKs add
        return getattr(self.mocks, name)


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, keeping each registration request's inputs and options."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        self._seen = _SeenInputs(mocks)
        super().__init__(self._seen)
        self.records: list[Recorded] = []
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        self._seen.last.inputs = None
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            inputs = self._seen.last.inputs
            self.records.append(
                Recorded(
                    type=request.type,
                    name=request.name,
                    raw_inputs=rpc.deserialize_properties(request.object) if inputs is None else inputs,
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

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def record(
    program: Callable[[], Any], mocks: pulumi.runtime.Mocks, *, project: str, stack: str, preview: bool = False
) -> Recording:
    """Run `program` under `mocks` with a fresh stack. If it raises, the exception propagates
    with `.registered` set to what was registered before it."""
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.settings.ROOT.set(None)  # a fresh Stack per run: exports must not leak between runs
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    result: dict[str, Any] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator,unused-ignore]
    def body() -> Any:
        return pulumi.Output.from_input(program()).apply(lambda value: result.update(value=value))

    try:
        body()
    except Exception as exc:
        exc.registered = monitor.records  # type: ignore[attr-defined]
        raise
    return Recording(monitor.records, result.get("value"), monitor.outputs)
