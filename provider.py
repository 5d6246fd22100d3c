"""The `docker-in-workspaces` component provider: the package schema and the plugin that serves it.

`pulumi package add <this repository>` (PulumiPlugin.yaml, runtime python) runs
`__main__.py`, which calls `serve()`: the SDK's `ComponentProvider` hosting every
`ComponentResource` exported by `components`, so TypeScript, Go, C#, Java and YAML
programs get generated SDKs for them. Type tokens are `docker-in-workspaces:index:<ClassName>`.

The schema is the SDK's (`pulumi.provider.experimental`), with what its analyzer lacks
added here (tests/test_schema.py has a test per addition that fails once upstream has it):

- a field inherited from a base args class gets the docstring of the class declaring it,
  dedented like the class docstrings;
- `Annotated[T, "secret"]` marks an input `secret: true`, and a `Default(value)` marker
  (components/fields.py) becomes the property's `default`;
- integer inputs arrive as int (every number arrives over gRPC as a float, and the SDK
  converts integer properties, then overwrites the result with the float).

Regenerate the committed schema with `venv/bin/python provider.py > schema.json`.
"""

import inspect
import json
import sys
import typing
from enum import Enum
from typing import Any, Optional
from unittest import mock

import pulumi
from pulumi.provider import main as provider_main
from pulumi.provider.experimental import component as sdk_component
from pulumi.provider.experimental.analyzer import Analyzer as _SdkAnalyzer
from pulumi.provider.experimental.analyzer import PropertyDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.util import camel_case
from typing_extensions import is_typeddict

from components.fields import Default

PACKAGE = "docker-in-workspaces"
"""Package name: the first part of every type token, and the name of the generated SDKs."""
VERSION = "0.1.0"
"""Schema version; kept equal to pyproject.toml's [project] version (a test checks)."""
SECRET = "secret"
"""`Annotated[pulumi.Input[str], "secret"]` on an args field marks it secret in the schema."""
REGENERATE = "venv/bin/python provider.py > schema.json"


def exported_components() -> list[type[pulumi.ComponentResource]]:
    """Every ComponentResource subclass in `components.__all__`: what the plugin hosts."""
    import components

    values = (getattr(components, name) for name in components.__all__)
    return [v for v in values if inspect.isclass(v) and issubclass(v, pulumi.ComponentResource)]


class Analyzer(_SdkAnalyzer):
    """The SDK's analyzer, reading inherited docstrings and recording secret inputs."""

    def __init__(self, name: str):
        super().__init__(name)
        self.secrets: dict[type, set[str]] = {}
        """Python type -> schema names of its properties marked `Annotated[..., "secret"]`."""
        self.defaults: dict[type, dict[str, Any]] = {}
        """Python type -> schema name -> the JSON value of its `Default` marker."""

    def analyze_property(self, arg: Any, typ: type, name: str, **kwargs: Any) -> PropertyDefinition:
        if typing.get_origin(arg) is typing.Annotated:
            inner, *metadata = typing.get_args(arg)
            if SECRET in metadata:
                self.secrets.setdefault(typ, set()).add(camel_case(name))
            for value in (m.value for m in metadata if isinstance(m, Default)):
                json_value = value.value if isinstance(value, Enum) else value
                self.defaults.setdefault(typ, {})[camel_case(name)] = json_value
            arg = inner
        elif typing.get_origin(arg) is dict and typing.get_origin(typing.get_args(arg)[0]) is typing.Annotated:
            # The SDK accepts `str` itself as a map's key type only: the key's constraints stay out of the schema.
            key, value = typing.get_args(arg)
            arg = dict[typing.get_args(key)[0], value]  # type: ignore[valid-type]
        return super().analyze_property(arg, typ, name, **kwargs)

    def get_docstring(self, typ: type, name: str) -> Optional[str]:
        doc = super().get_docstring(typ, name)
        if doc:
            return inspect.cleandoc(doc)
        # Else the base that declares it: a TypedDict's __mro__ is (cls, dict, object), its written bases are in
        # __orig_bases__ (typing_extensions.TypedDict, or typing's from Python 3.12).
        bases = getattr(typ, "__orig_bases__", ()) if is_typeddict(typ) else typ.__bases__
        for base in bases:
            if inspect.isclass(base) and base not in (object, dict, pulumi.Resource, pulumi.ComponentResource):
                if doc := self.get_docstring(base, name):
                    return doc
        return None


class DockerInWorkspacesProvider(ComponentProvider):
    """The SDK's ComponentProvider, analyzing with our `Analyzer`; its schema carries the secret flags."""

    def __init__(self, components: Optional[list[type[pulumi.ComponentResource]]] = None):
        components = exported_components() if components is None else components
        # The SDK's __init__ names its analyzer class directly: hand it ours for the call.
        with mock.patch.object(sdk_component, "Analyzer", Analyzer):
            super().__init__(components, PACKAGE, version=VERSION)
        schema = json.loads(self.schema or "{}")
        for component in components:
            args_type = inspect.get_annotations(component.__init__)["args"]
            inputs = schema["resources"][f"{PACKAGE}:index:{component.__name__}"]["inputProperties"]
            self._mark_secrets(inputs, args_type)
        for name, type_def in self.analyzer.type_definitions.items():
            self._mark_secrets(schema["types"][f"{PACKAGE}:index:{name}"].get("properties", {}), type_def.python_type)
        self.schema = json.dumps(schema)

    def _mark_secrets(self, properties: dict[str, Any], python_type: Any) -> None:
        assert isinstance(self.analyzer, Analyzer)
        for prop in self.analyzer.secrets.get(python_type, ()):
            properties[prop]["secret"] = True
        for prop, value in self.analyzer.defaults.get(python_type, {}).items():
            properties[prop]["default"] = value

    def map_input_properties(
        self, inputs: Any, properties: dict[str, PropertyDefinition], mapping: dict[str, str], *args: Any
    ) -> Any:
        # The SDK's int() of a wire float is overwritten by the float itself (pulumi 3.272.0): redo it after.
        mapped = super().map_input_properties(inputs, properties, mapping, *args)
        for schema_name, prop in properties.items():
            value = mapped.get(mapping[schema_name])
            if prop.type == PropertyType.INTEGER and isinstance(value, float) and value.is_integer():
                mapped[mapping[schema_name]] = int(value)
        return mapped


def package_schema(components: Optional[list[type[pulumi.ComponentResource]]] = None) -> dict[str, Any]:
    """The package schema (as JSON data) of `components`, by default every exported component."""
    return json.loads(DockerInWorkspacesProvider(components).schema or "{}")


def schema_text() -> str:
    """schema.json's exact content."""
    return json.dumps(package_schema(), indent=2) + "\n"


def serve(args: Optional[list[str]] = None) -> None:
    """Run the provider plugin: print the gRPC port, serve until the engine stops it."""
    provider_main(DockerInWorkspacesProvider(), sys.argv[1:] if args is None else args)


if __name__ == "__main__":
    sys.stdout.write(schema_text())
