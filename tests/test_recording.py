"""components/recording.py's two shortcuts, which make the render of a big stack cheaper: the monitor's answer
reuses the request's serialized inputs, and registrations carry no stack trace. Each must change nothing that
is recorded, and each must really be in effect on the pinned SDK (or its saving is silently gone)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime.resource
import pytest
from google.protobuf import struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await
from stacks import stack_names

from components import recording, render
from components.recording import SECRET_SIG, SIG_KEY, echo_response_object

ROOT = Path(__file__).resolve().parent.parent
STACKS = stack_names()


def serialized(value: dict[str, Any]) -> Any:
    return _sync_await(rpc.serialize_properties(value, {}))


def sdk_response_object(request_object: Any, inputs: dict[str, Any], state: dict[str, Any]) -> Any:
    """What the SDK's mock monitor answers: every output serialized anew."""
    return serialized(state)


@pytest.fixture(scope="module")
def stack_inputs() -> dict[str, list[dict[str, Any]]]:
    """Every resource's raw inputs (secrets wrapped) of every example stack."""
    return {stack: [r.raw_inputs for r in render.run_stack(stack, ROOT).records] for stack in STACKS}


class Echo(pulumi.runtime.Mocks):
    """Outputs are the inputs."""

    def new_resource(self, args):
        return args.name, dict(args.inputs)

    def call(self, args):
        return {}, []


SECRET = {SIG_KEY: SECRET_SIG, "value": "hunter2"}


def outputs_variants(inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What mocks may answer: the inputs echoed, with a computed output, with one changed (an equal value that is
    another object, and a different one), with one dropped, with a secret added, or something else entirely."""
    first = next(iter(inputs), None)
    variants = {
        "echo": dict(inputs),
        "computed": {**inputs, "mountpoint": "/var/lib/docker/volumes/x/_data", "exitCode": 0.0},
        "secret added": {**inputs, "token": SECRET},
        "nothing echoed": {"id": "x", "ready": True},
        "empty": {},
    }
    if first is not None:
        equal_copy = rpc.deserialize_properties(serialized({first: inputs[first]}))[first]
        variants["changed, equal"] = {**inputs, first: equal_copy}
        variants["changed"] = {**inputs, first: "something else"}
        variants["dropped"] = {key: value for key, value in inputs.items() if key != first}
    return variants


@pytest.mark.parametrize("stack", STACKS)
def test_the_echo_answer_is_what_the_sdks_mock_monitor_answers(stack, stack_inputs):
    """For every resource of every stack and every way mocks may answer, the reused request is the SDK's answer."""
    checked = 0
    for raw_inputs in stack_inputs[stack]:
        request_object = serialized(raw_inputs)
        inputs = rpc.deserialize_properties(request_object)
        for variant, state in outputs_variants(inputs).items():
            assert echo_response_object(request_object, inputs, state) == serialized(state), variant
            checked += 1
    assert checked > 20


def test_a_null_in_the_request_is_not_echoed():
    """The SDK drops a key whose value deserializes to None: it is no input, so echoing the inputs leaves it out."""
    request_object = struct_pb2.Struct()
    request_object.update({"image": "busybox", "command": None})
    inputs = rpc.deserialize_properties(request_object)
    assert inputs == {"image": "busybox"}
    answer = echo_response_object(request_object, inputs, dict(inputs))
    assert answer == serialized(inputs) and set(answer.fields) == {"image"}


def test_an_asset_is_serialized_anew_not_copied():
    """A value that deserializes to an object (here an asset) is not plain data: it takes the SDK's path, so a mock
    that echoes it answers what the SDK's monitor would."""

    answers: list[tuple[Any, Any]] = []

    class Observing(recording.RecordingMonitor):
        def RegisterResource(self, request):  # noqa: N802
            response = super().RegisterResource(request)
            if request.type == "test:index:Thing":
                inputs = rpc.deserialize_properties(request.object)
                answers.append((inputs, response.object))
            return response

    def program():
        pulumi.CustomResource("test:index:Thing", "thing", {"script": pulumi.StringAsset("echo hi"), "note": "n"})

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recording, "RecordingMonitor", Observing)
        recording.record(program, Echo(), project="p", stack="s")
    [(inputs, answered)] = answers
    assert isinstance(inputs["script"], pulumi.StringAsset)
    assert not recording._round_trips(inputs["script"]), "an asset should not count as plain data"
    assert answered == serialized(inputs)


@pytest.mark.parametrize("stack", STACKS)
def test_a_recording_is_the_same_with_the_sdks_answers(stack, monkeypatch):
    """The whole recording (every resource's inputs and options, every component's outputs) and the rendered files
    are the same when the monitor answers the SDK's way."""
    fast = render.run_stack(stack, ROOT)
    monkeypatch.setattr(recording, "echo_response_object", sdk_response_object)
    slow = render.run_stack(stack, ROOT)

    def by_urn(rendered: render.Rendered) -> dict[str, dict[str, Any]]:
        """Executor threads register in any order, and the SDK lists a resource's dependencies from a set."""
        return {r.urn: dataclasses.asdict(r) | {"dependencies": sorted(r.dependencies)} for r in rendered.records}

    assert len(fast.records) > 10
    assert by_urn(fast) == by_urn(slow)
    assert sorted(fast.security, key=repr) == sorted(slow.security, key=repr)
    assert render.render_files(fast, "p") == render.render_files(slow, "p")


def stack_trace_frames(under_record: bool) -> list[int]:
    """How many stack frames the SDK attached to each registration, under record() or under the SDK's own mocks."""
    frames: list[int] = []

    class Counting(recording.RecordingMonitor):
        def RegisterResource(self, request):  # noqa: N802
            if request.type != "pulumi:pulumi:Stack":
                frames.append(len(request.stackTrace.frames))
            return super().RegisterResource(request)

    class Thing(pulumi.CustomResource):
        def __init__(self, name: str, index: int):  # the SDK's trace starts at the third __init__ up the stack
            super().__init__("test:index:Thing", name, {"index": index})

    def program():
        for index in range(3):
            Thing(f"thing-{index}", index)

    if under_record:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(recording, "RecordingMonitor", Counting)
            recording.record(program, Echo(), project="p", stack="s")
    else:
        mocks = Echo()
        pulumi.runtime.settings.ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project="p", stack="s", monitor=Counting(mocks))
        pulumi.runtime.test(program)()
    return frames


def test_registrations_carry_no_stack_trace_while_recording_and_do_again_after():
    """The SDK attaches the Python stack to every registration; record() turns that off while it runs (the pinned
    SDK still has the function it replaces, or frames would show up here) and restores it."""
    original = pulumi.runtime.resource._get_stack_trace
    before = stack_trace_frames(under_record=False)
    assert len(before) == 3 and all(n > 0 for n in before)
    assert stack_trace_frames(under_record=True) == [0, 0, 0]
    assert pulumi.runtime.resource._get_stack_trace is original
    assert all(n > 0 for n in stack_trace_frames(under_record=False))


def test_an_sdk_without_the_stack_trace_function_is_left_alone(monkeypatch):
    monkeypatch.delattr(pulumi.runtime.resource, "_get_stack_trace")
    with recording.without_source_positions():
        assert not hasattr(pulumi.runtime.resource, "_get_stack_trace")
    assert not hasattr(pulumi.runtime.resource, "_get_stack_trace")
