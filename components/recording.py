"""Run Pulumi code under the SDK's mocks and record every resource it registers.

The record (type, name, inputs with secrets still marked, parent, resource options)
is what `pulumi preview` would send the engine: the renderer writes it out, the tests
assert on it, and the e2e harness replays it on a real Docker engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi.runtime.resource
import pulumi.runtime.settings
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as sdk_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

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


PLAIN_LEAVES = (str, bool, int, float, type(None))


def _round_trips(value: Any) -> bool:
    """True if `value`, deserialized from a request, serializes back to the same protobuf value: plain data and
    secret wrappers of it. Not resource references, assets or archives, which deserialize to objects."""
    if isinstance(value, PLAIN_LEAVES):
        return True
    if isinstance(value, dict):
        return all(_round_trips(item) for item in value.values())
    if isinstance(value, list):
        return all(_round_trips(item) for item in value)
    return False


def echo_response_object(request_object: struct_pb2.Struct, inputs: dict[str, Any], state: dict[str, Any]) -> Any:
    """The outputs `state` serialized as the mock monitor's response, reusing the request's own serialized
    inputs wherever `state` holds an input unchanged (the very object deserialized from the request, of plain
    data): mocks that echo their inputs, as the renderer's and the tests' do, have almost nothing left to
    serialize. The result equals `rpc.serialize_properties(state)` (tests/test_recording.py checks it on every
    stack's resources); the SDK's mock monitor serializes everything, about 2 s per 1000 Kubernetes workspaces."""
    reused = [key for key, value in state.items() if key in inputs and inputs[key] is value and _round_trips(value)]
    if not reused:
        return _sync_await(rpc.serialize_properties(state, {}))
    response = struct_pb2.Struct()
    if len(reused) == len(inputs) == len(request_object.fields):  # (a null in the request is not an input)
        response.CopyFrom(request_object)
    else:
        for key in reused:
            response.fields[key].CopyFrom(request_object.fields[key])
    kept = set(reused)
    computed = {key: value for key, value in state.items() if key not in kept}
    if computed:
        serialized = _sync_await(rpc.serialize_properties(computed, {}))
        for key in serialized.fields:
            response.fields[key].CopyFrom(serialized.fields[key])
    return response


class RecordingMonitor(sdk_mocks.MockMonitor):
    """The SDK's mock monitor, keeping each registration request's inputs and options.

    RegisterResource does what the SDK's does (deserialize the inputs, ask the mocks, keep the registration for
    `getResource`, answer with the outputs) and records the request. Outside previews the answer reuses the
    request's serialized inputs (`echo_response_object`); in previews every output is serialized anew, as the
    SDK does: there an unknown input deserializes to None, which must go back as null, not as the unknown it was.
    """

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: list[Recorded] = []
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)  # type: ignore[no-untyped-call]
        urn = self.make_urn(request.parent, request.type, request.name)
        _ensure_event_loop()  # type: ignore[no-untyped-call]  # deserializing resource references needs a loop
        inputs = rpc.deserialize_properties(request.object)
        resource_id, state = self.mocks.new_resource(
            sdk_mocks.MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
                transforms=sdk_mocks._resolve_callbacks(request.transforms),
            )
        )
        if pulumi.runtime.settings.is_dry_run():
            outputs = _sync_await(rpc.serialize_properties(state, {}))
        else:
            outputs = echo_response_object(request.object, inputs, state)
        # Kept as the SDK's monitor keeps it (a mock may give no id); in the response an unset id is "".
        self.resources[urn] = sdk_mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)  # type: ignore[arg-type]
        self.records.append(
            Recorded(
                type=request.type,
                name=request.name,
                raw_inputs=inputs,
                parent=request.parent,
                urn=urn,
                custom=request.custom,
                retain_on_delete=request.retainOnDelete,
                delete_before_replace=request.deleteBeforeReplace,
                dependencies=list(request.dependencies),
                provider=request.provider,
            )
        )
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id or "", object=outputs)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def without_source_positions() -> Iterator[None]:
    """Registrations without the stack trace the SDK attaches to each (the engine's source positions for
    diagnostics; nothing recorded reads them). The SDK walks and converts the whole Python stack for every
    resource: about 2 s per 1000 Kubernetes workspaces. An SDK without `_get_stack_trace` is left as it is
    (tests/test_recording.py fails on the pinned one if the name goes away)."""
    module = pulumi.runtime.resource
    original = getattr(module, "_get_stack_trace", None)
    if original is None:
        yield
        return
    module._get_stack_trace = source_pb2.StackTrace  # an empty trace: no frames, no source position
    try:
        yield
    finally:
        module._get_stack_trace = original


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
        with without_source_positions():
            body()
    except Exception as exc:
        exc.registered = monitor.records  # type: ignore[attr-defined]
        raise
    return Recording(monitor.records, result.get("value"), monitor.outputs)
