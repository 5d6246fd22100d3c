"""The consumer examples: the Python program run under mocks, the YAML program checked against the schema and
constructed through the provider the way a YAML (or TypeScript, Go, C#) program reaches it."""

import importlib.util
import re
import runpy
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from harness import plaintext_strings, run

import provider

ROOT = Path(__file__).resolve().parent.parent
PYTHON_EXAMPLE = ROOT / "examples" / "python-consumer"
YAML_EXAMPLE = ROOT / "examples" / "yaml-consumer"
COMPONENT = "docker-in-workspaces:index:DockerHostWorkspace"
INTERPOLATION = re.compile(r"^\$\{([A-Za-z][\w-]*)(?:\.([A-Za-z]\w*))?\}$")
FAKE_TOKEN = "fake-agent-token-0123456789"


@pytest.fixture(scope="module")
def schema() -> dict:
    return provider.package_schema()


INSTALL = "venv/bin/pip install --no-deps --config-settings editable_mode=strict -e .  (.ci/run does it)"


def test_python_consumer_runs_under_mocks():
    assert importlib.util.find_spec("docker_in_workspaces"), f"the example imports the installed package: {INSTALL}"

    def program():
        runpy.run_path(str(PYTHON_EXAMPLE / "__main__.py"), run_name="__main__")
        return pulumi.runtime.get_root_resource().outputs

    result = run(program)
    assert sorted(result.names(COMPONENT)) == ["alice", "bob"]
    exports = result.value
    assert exports["aliceSecurityLevel"] == "high"
    assert exports["bobSecurityLevel"] == "low"
    assert exports["aliceDockerHost"].startswith("unix://")
    assert "bob-socket" in exports["bobVolumes"]
    bob = result.one("docker:index/container:Container", "bob-daemon")
    assert any("--mtu" in part or "1460" in part for part in plaintext_strings(bob.raw_inputs))


def test_python_consumer_project_installs_this_package():
    project = yaml.safe_load((PYTHON_EXAMPLE / "Pulumi.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    lines = [
        line.strip()
        for line in (PYTHON_EXAMPLE / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines == ["../.."]
    assert (PYTHON_EXAMPLE / lines[0]).resolve() == ROOT  # pip runs in the project directory
    assert (PYTHON_EXAMPLE / "README.md").is_file()


def yaml_project() -> dict:
    return yaml.safe_load((YAML_EXAMPLE / "Pulumi.yaml").read_text())


def full_token(typ: str) -> str:
    """Pulumi YAML accepts `pkg:Type` for `pkg:index:Type`."""
    parts = typ.split(":")
    return f"{parts[0]}:index:{parts[1]}" if len(parts) == 2 else typ


def check_value(schema: dict, prop: dict, value: Any, where: str) -> None:
    if isinstance(value, str) and INTERPOLATION.match(value):
        return  # a config value or another resource's output: checked by Pulumi at run time
    if "$ref" in prop:
        target = schema["types"][prop["$ref"].removeprefix("#/types/")]
        if "enum" in target:
            assert value in [v["value"] for v in target["enum"]], f"{where}: {value!r} is not one of the enum"
            return
        assert isinstance(value, dict), f"{where}: expected an object"
        check_object(schema, target.get("properties") or {}, target.get("required") or [], value, where)
        return
    kind = prop.get("type")
    if kind == "string":
        assert isinstance(value, str), where
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind == "array":
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            check_value(schema, prop["items"], item, f"{where}[{i}]")
    elif kind == "object":
        assert isinstance(value, dict), where
        for key, item in value.items():
            check_value(schema, prop["additionalProperties"], item, f"{where}.{key}")


def check_object(schema: dict, properties: dict, required: list[str], values: dict, where: str) -> None:
    for key, value in values.items():
        assert key in properties, f"{where}.{key} is not an input of the schema ({sorted(properties)})"
        check_value(schema, properties[key], value, f"{where}.{key}")
    missing = set(required) - set(values)
    assert not missing, f"{where}: required inputs missing: {sorted(missing)}"


def test_yaml_consumer_uses_this_package_and_only_schema_inputs(schema):
    project = yaml_project()
    assert project["runtime"] == "yaml"
    source = project["packages"]["docker-in-workspaces"]
    assert (YAML_EXAMPLE / source).resolve() == ROOT and (ROOT / "PulumiPlugin.yaml").is_file()
    resources = project["resources"]
    assert len(resources) >= 2
    for name, resource in resources.items():
        token = full_token(resource["type"])
        assert token in schema["resources"], f"{name}: unknown type {resource['type']}"
        spec = schema["resources"][token]
        check_object(schema, spec["inputProperties"], spec["requiredInputs"], resource.get("properties") or {}, name)
    for output, expression in project["outputs"].items():
        match = INTERPOLATION.match(expression)
        assert match and match.group(1) in resources, f"output {output}: {expression}"
        spec = schema["resources"][full_token(resources[match.group(1)]["type"])]
        assert match.group(2) in spec["properties"], f"output {output}: {match.group(2)} is not an output"
    assert (YAML_EXAMPLE / "README.md").is_file()


def wire_value(value: Any, config: dict) -> Any:
    """A YAML literal as the provider receives it over gRPC: numbers as floats, config secrets as secrets."""
    if isinstance(value, str) and (match := INTERPOLATION.match(value)):
        spec = config[match.group(1)]
        if spec.get("secret"):
            return pulumi.Output.secret(FAKE_TOKEN)
        return spec["default"]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dict):
        return {k: wire_value(v, config) for k, v in value.items()}
    if isinstance(value, list):
        return [wire_value(v, config) for v in value]
    return value


def test_yaml_consumer_constructs_through_the_provider():
    project = yaml_project()

    def program():
        host = provider.DockerInWorkspacesProvider()
        states = {}
        for name, resource in project["resources"].items():
            inputs = wire_value(resource.get("properties") or {}, project["config"])
            states[name] = host.construct(name, full_token(resource["type"]), inputs, None).state
        return states

    result = run(program)
    assert result.value["alice"]["securityLevel"] == "high"
    assert result.value["bob"]["securityLevel"] == "low"
    assert result.value["bob"]["dockerHost"] == "unix:///var/run/dind/docker.sock"
    bob = result.one("docker:index/container:Container", "bob")
    assert "CODER_AGENT_TOKEN_FILE=/run/docker-in-workspaces/coder-agent-token" in bob.inputs["envs"]
    assert bob.inputs["uploads"] == [{"file": "/run/docker-in-workspaces/coder-agent-token", "content": FAKE_TOKEN}]
    assert not any(FAKE_TOKEN in s for r in result.resources for s in plaintext_strings(r.raw_inputs))
    daemon = result.one("docker:index/container:Container", "bob-daemon")
    assert any("1460" in s for s in plaintext_strings(daemon.raw_inputs))
