"""The multi-language package: schema generated in-process by the SDK's analyzer, and the plugin that serves it."""

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

import components
import provider
from components import Strategy

ROOT = Path(__file__).resolve().parent.parent
PREFIX = f"{provider.PACKAGE}:index:"
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def exported_components() -> list[type]:
    return [
        value
        for value in (getattr(components, name) for name in components.__all__)
        if inspect.isclass(value) and issubclass(value, pulumi.ComponentResource)
    ]


@pytest.fixture(scope="module")
def schema() -> dict:
    return provider.package_schema()


def resolve_ref(schema: dict, ref: str) -> dict:
    assert ref.startswith("#/types/"), f"unexpected reference {ref}"
    return schema["types"][ref.removeprefix("#/types/")]


def walk_inputs(schema: dict, properties: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, property) for every input property, nested object types included."""
    for name, prop in properties.items():
        where = f"{path}.{name}" if path else name
        yield where, prop
        for inner in (prop, prop.get("items") or {}, prop.get("additionalProperties") or {}):
            if "$ref" in inner:
                target = resolve_ref(schema, inner["$ref"])
                yield from walk_inputs(schema, target.get("properties") or {}, where)


def test_schema_json_is_in_sync_with_the_components():
    committed = (ROOT / "schema.json").read_text()
    assert committed == provider.schema_text(), (
        f"schema.json is out of date with the components; regenerate it with `{provider.REGENERATE}`"
    )


def test_every_exported_component_is_in_the_schema(schema):
    exported = exported_components()
    assert components.DockerHostWorkspace in exported
    assert set(schema["resources"]) == {PREFIX + c.__name__ for c in exported}
    assert provider.exported_components() == exported
    for token, resource in schema["resources"].items():
        assert resource["isComponent"] is True
        assert resource["description"], token
    assert schema["name"] == "docker-in-workspaces"


def test_type_tokens_match_the_components_own():
    for component in exported_components():
        source = inspect.getsource(sys.modules[component.__module__])
        assert f'"{PREFIX}{component.__name__}"' in source, f"{component.__name__} registers another type token"


def test_every_input_property_has_a_description(schema):
    for token, resource in schema["resources"].items():
        assert resource["inputProperties"], token
        for path, prop in walk_inputs(schema, resource["inputProperties"]):
            assert prop.get("description", "").strip(), f"{token}: input {path} has no description"
        for name, prop in resource["properties"].items():  # outputs, inherited ones included
            assert prop.get("description", "").strip(), f"{token}: output {name} has no description"
    for token, typ in schema["types"].items():
        assert typ.get("description", "").strip(), f"type {token} has no description"
        for value in typ.get("enum") or []:
            assert value.get("description"), f"{token}: enum value {value['value']} has no description"


def test_strategy_is_an_enum_of_the_eight_strategies(schema):
    strategy = schema["types"][PREFIX + "Strategy"]
    assert strategy["type"] == "string"
    values = [v["value"] for v in strategy["enum"]]
    assert values == ["dood", "dind", "dind-sidecar", "dind-rootless", "sysbox", "envbox", "podman", "dind-userns"]
    assert {v["value"] for v in strategy["enum"]} == {s.value for s in Strategy}
    for token, resource in schema["resources"].items():
        assert resource["inputProperties"]["strategy"]["$ref"] == f"#/types/{PREFIX}Strategy", token


def test_properties_are_camel_case_and_outputs_are_there(schema):
    for token, resource in schema["resources"].items():
        for path, _ in walk_inputs(schema, resource["inputProperties"]):
            assert all(CAMEL.match(part) for part in path.split(".")), f"{token}: input {path}"
        outputs = resource["properties"]
        assert all(CAMEL.match(name) for name in outputs), f"{token}: {sorted(outputs)}"
        for name in ("dockerHost", "securityLevel"):
            assert outputs[name]["type"] == "string", f"{token}: output {name}"
            assert name in resource["required"]
    docker = schema["resources"][PREFIX + "DockerHostWorkspace"]
    shared = {"strategy", "dockerHost", "securityLevel", "podSecurityLevel", "privilegedContainers", "hostSockets"}
    assert set(docker["properties"]) == {*shared, "running", "containerName", "volumeNames"}
    kubernetes = schema["resources"][PREFIX + "KubernetesWorkspace"]
    assert set(kubernetes["properties"]) == {*shared, "running", "namespace", "deploymentName"}
    assert docker["properties"]["volumeNames"]["items"]["type"] == "string"
    assert {"coderAgent", "envbuilder", "dockerSocketGid", "homePath"} <= set(docker["inputProperties"])


def test_secret_inputs_are_marked_secret(schema):
    for token, resource in schema["resources"].items():
        secrets = {path for path, prop in walk_inputs(schema, resource["inputProperties"]) if prop.get("secret")}
        assert secrets == {"coderAgent.token", "envbuilder.dockerConfigBase64"}, token


def test_required_nested_inputs(schema):
    agent = schema["types"][PREFIX + "CoderAgentArgs"]
    assert agent["required"] == ["initScript", "token", "url"]
    assert schema["types"][PREFIX + "EnvbuilderArgs"]["required"] == ["gitUrl"]


def test_provider_version_is_the_project_version(schema):
    pyproject = (ROOT / "pyproject.toml").read_text()
    project = dict(re.findall(r'^(name|version) = "([^"]+)"$', pyproject.split("[project]", 1)[1], re.M))
    assert project["name"] == provider.PACKAGE
    assert provider.VERSION == project["version"] == schema["version"]


def test_plugin_manifest_declares_a_python_plugin():
    manifest = yaml.safe_load((ROOT / "PulumiPlugin.yaml").read_text())
    assert manifest == {"runtime": "python"}
    assert (ROOT / "__main__.py").is_file()
    assert (ROOT / "requirements.txt").is_file()  # the plugin's venv is created from it


def test_the_plugin_starts_like_pulumi_starts_it_and_serves_the_schema():
    """`pulumi package add` runs `python <repository> <engine address>`: it must print a port and serve GetSchema."""
    import grpc

    plugin = subprocess.Popen(
        [sys.executable, str(ROOT), "127.0.0.1:1"],
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = plugin.stdout.readline().strip()
        assert port.isdigit(), f"no port printed; stderr: {plugin.stderr.read() if plugin.poll() is not None else ''}"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            served = stub.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=30).schema
        assert json.loads(served) == json.loads((ROOT / "schema.json").read_text())
    finally:
        plugin.terminate()
        plugin.wait(timeout=10)


def test_every_declared_default_is_the_schemas_default(schema):
    from pydantic.alias_generators import to_camel

    from components.args import WorkspaceArgs
    from components.fields import fields
    from components.kubernetes.args import KubernetesSettingsArgs

    def json_value(value):
        return getattr(value, "value", value)  # an Enum member: its value

    for token, args_type in (
        ("DockerHostWorkspace", WorkspaceArgs),
        ("KubernetesWorkspace", WorkspaceArgs),
        ("KubernetesWorkspace", KubernetesSettingsArgs),
    ):
        inputs = schema["resources"][PREFIX + token]["inputProperties"]
        declared = {to_camel(n): json_value(d.default.value) for n, d in fields(args_type).items() if d.default}
        assert declared, args_type
        assert {name: inputs[name].get("default") for name in declared} == declared, token
    envbuilder = schema["types"][PREFIX + "EnvbuilderArgs"]["properties"]
    assert envbuilder["image"]["default"].startswith("ghcr.io/coder/envbuilder:")
    assert "default" not in envbuilder["gitUrl"]
