"""The `docker-in-workspaces` component provider: the package schema and the plugin that serves it.

`pulumi package add <this repository>` (PulumiPlugin.yaml, runtime python) runs
`__main__.py`, which calls `serve()`: a gRPC provider hosting every
`ComponentResource` exported by `components`, so TypeScript, Go, C#, Java and YAML
programs get generated SDKs for them. Type tokens are
`docker-in-workspaces:index:<ClassName>`.

The schema is inferred by the Python SDK's component analyzer
(`pulumi.provider.experimental.analyzer`) and written out by its `generate_schema`,
with four additions the stock analyzer lacks, all in `Analyzer` below:

- annotations written under `from __future__ import annotations` (strings and
  ForwardRefs) are evaluated the way Python would without that import;
- a field inherited from a base args class (`DockerHostWorkspaceArgs(WorkspaceArgs)`)
  gets its docstring from the class that declares it;
- `Annotated[T, "secret"]` marks an input `secret: true` in the schema (the analyzer
  has no notion of secrets), and other `Annotated` metadata is ignored;
- `Literal["a", "b"]` of strings becomes a string (the docstring names the values).

Regenerate the committed schema with `venv/bin/python provider.py > schema.json`.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import operator
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from enum import Enum
from typing import Any, ForwardRef, Optional

import pulumi
from pulumi.provider import main as provider_main
from pulumi.provider.experimental.analyzer import Analyzer as _SdkAnalyzer
from pulumi.provider.experimental.analyzer import AnalyzeResult, ComponentDefinition, PropertyDefinition, PropertyType
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.experimental.schema import generate_schema
from pulumi.provider.experimental.util import camel_case
from pulumi.provider.provider import Provider as _BaseProvider

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

    found = []
    for name in components.__all__:
        value = getattr(components, name)
        if inspect.isclass(value) and issubclass(value, pulumi.ComponentResource):
            found.append(value)
    return found


def _evaluate(annotation: Any, module: Optional[str]) -> Any:
    """A string or ForwardRef annotation evaluated in its module, as it would be without postponed evaluation.

    Only the outer annotation is evaluated: forward references nested inside it (such as
    `pulumi.Input`'s own "Output[T]") stay as they are, as the analyzer expects.
    """
    if isinstance(annotation, ForwardRef):
        module = getattr(annotation, "__forward_module__", None) or module
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        namespace = vars(sys.modules[module]) if module in sys.modules else {}
        return eval(annotation, dict(namespace))  # noqa: S307 - our own annotations
    return annotation


def _strip(annotation: Any) -> tuple[Any, bool]:
    """(annotation without Annotated/Literal wrappers, whether it was marked secret)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        stripped, secret = _strip(inner)
        return stripped, secret or SECRET in metadata
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        if values and all(isinstance(v, str) for v in values):
            return str, False
        raise TypeError(f"only Literal types of strings can go into the schema, got {annotation}")
    args = typing.get_args(annotation)
    if origin is None or not args:
        return annotation, False
    stripped_args = [_strip(a) for a in args]
    if all(new is old for (new, _), old in zip(stripped_args, args, strict=True)):
        return annotation, any(secret for _, secret in stripped_args)
    new_args = tuple(new for new, _ in stripped_args)
    if isinstance(annotation, types.GenericAlias):  # dict[str, X], list[X]
        rebuilt = types.GenericAlias(origin, new_args)
    elif isinstance(annotation, types.UnionType):  # X | Y
        rebuilt = functools.reduce(operator.or_, new_args)
    else:  # typing's aliases: Optional[X], NotRequired[X], Union[...]
        rebuilt = annotation.copy_with(new_args)
    return rebuilt, any(secret for _, secret in stripped_args)


def _source_bases(cls: type) -> list[type]:
    """The bases written in `cls`'s class statement (a TypedDict's own __bases__ is just `dict`)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return []
    statement = next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)
    if statement is None:
        return []
    namespace = dict(vars(sys.modules[cls.__module__])) if cls.__module__ in sys.modules else {}
    bases = []
    for expression in statement.bases:
        try:
            base = eval(ast.unparse(expression), namespace)  # noqa: S307 - our own source
        except Exception:  # noqa: BLE001 - a base we cannot name has no docstrings for us
            continue
        if inspect.isclass(base):
            bases.append(base)
    return bases


def _declaring_classes(typ: type) -> Iterator[type]:
    """`typ`, then the classes it derives from, nearest first: where an inherited field's docstring is."""
    seen: set[type] = set()
    pending = [typ]
    while pending:
        cls = pending.pop(0)
        if cls in seen or cls in (object, dict) or cls.__module__ in ("typing", "typing_extensions"):
            continue
        seen.add(cls)
        yield cls
        pending.extend(_source_bases(cls) if typing.is_typeddict(cls) else cls.__mro__[1:])


class Analyzer(_SdkAnalyzer):
    """The SDK's analyzer, reading evaluated annotations; records secret inputs in `secrets`."""

    def __init__(self, name: str):
        super().__init__(name)
        self.secrets: dict[type, set[str]] = {}
        """Python type -> schema names of its properties marked secret."""
        self.args_types: dict[type, type] = {}
        """Component -> its args type."""

    def annotations(self, typ: Any) -> dict[str, Any]:
        """Field name -> evaluated annotation, over the class and its bases (SDK base classes excluded)."""
        merged: dict[str, Any] = {}
        for cls in reversed(typ.__mro__):
            if cls in (object, pulumi.Resource, pulumi.ComponentResource):
                continue
            for key, annotation in inspect.get_annotations(cls).items():
                if key.startswith("_"):
                    continue
                value, secret = _strip(_evaluate(annotation, cls.__module__))
                merged[key] = value
                if secret:
                    self.secrets.setdefault(typ, set()).add(camel_case(key))
        return merged

    def analyze_component(self, component: type[pulumi.ComponentResource]) -> ComponentDefinition:
        raw = inspect.get_annotations(component.__init__).get("args")
        if raw is None:
            raise TypeError(f"{component.__name__}.__init__ needs an annotated `args` parameter")
        args_type = _evaluate(raw, component.__module__)
        self.args_types[component] = args_type
        inputs, inputs_mapping = self.analyze_type(args_type, is_component_output=False)
        outputs, outputs_mapping = self.analyze_type(component, is_component_output=True)
        return ComponentDefinition(
            name=component.__name__,
            description=inspect.cleandoc(component.__doc__) if component.__doc__ else None,
            inputs=inputs,
            inputs_mapping=inputs_mapping,
            outputs=outputs,
            outputs_mapping=outputs_mapping,
            module=component.__module__,
        )

    def analyze_type(self, typ: type, *, is_component_output: bool):
        ann = self.annotations(typ)
        optional_keys: set[str] = set()
        if typing.is_typeddict(typ):
            optional_keys.update(getattr(typ, "__optional_keys__", ()))
        mapping = {camel_case(k): k for k in ann}
        properties = {
            camel_case(k): self.analyze_property(
                v,
                typ,
                k,
                can_be_plain=not is_component_output,
                is_component_output=is_component_output,
                optional=True if k in optional_keys else None,
            )
            for k, v in ann.items()
        }
        return properties, mapping

    def get_docstring(self, typ: type, name: str) -> Optional[str]:
        for cls in _declaring_classes(typ):
            doc = super().get_docstring(cls, name)
            if doc:
                return inspect.cleandoc(doc)
        return None


def analyze(components: list[type[pulumi.ComponentResource]]) -> tuple[AnalyzeResult, Analyzer]:
    analyzer = Analyzer(PACKAGE)
    return analyzer.analyze(components), analyzer


def _mark_secrets(schema: dict[str, Any], result: AnalyzeResult, analyzer: Analyzer) -> None:
    for component, args_type in analyzer.args_types.items():
        token = f"{PACKAGE}:index:{component.__name__}"
        for prop in analyzer.secrets.get(args_type, ()):
            schema["resources"][token]["inputProperties"][prop]["secret"] = True
    for name, type_def in result["type_definitions"].items():
        for prop in analyzer.secrets.get(type_def.python_type, ()):
            schema["types"][f"{PACKAGE}:index:{name}"]["properties"][prop]["secret"] = True


def package_schema(components: Optional[list[type[pulumi.ComponentResource]]] = None) -> dict[str, Any]:
    """The package schema (as JSON data) of `components`, by default every exported component."""
    result, analyzer = analyze(exported_components() if components is None else components)
    dependencies = sorted(result["dependencies"], key=lambda d: f"{d.name}{d.version}")
    spec = generate_schema(
        PACKAGE, VERSION, None, result["component_definitions"], result["type_definitions"], dependencies
    )
    schema = spec.to_json()
    _mark_secrets(schema, result, analyzer)
    return schema


def schema_text() -> str:
    """schema.json's exact content."""
    return json.dumps(package_schema(), indent=2) + "\n"


class DockerInWorkspacesProvider(ComponentProvider):
    """The SDK's ComponentProvider (construct, input mapping, outputs), fed by our `Analyzer`.

    `component_provider_host` builds a ComponentProvider with the stock analyzer, which cannot
    read these components' annotations; this does the same with ours, then serves it.
    """

    def __init__(self, components: Optional[list[type[pulumi.ComponentResource]]] = None):
        components = exported_components() if components is None else components
        result, analyzer = analyze(components)
        self._name = PACKAGE
        self.analyzer = analyzer
        self._components = {c.__name__: c for c in components}
        self._component_defs = result["component_definitions"]
        self._type_defs = result["type_definitions"]
        self._external_enum_types: dict[str, type[Enum]] = result["external_enum_types"]
        self._dependencies = sorted(result["dependencies"], key=lambda d: f"{d.name}{d.version}")
        _BaseProvider.__init__(self, VERSION, json.dumps(package_schema(components)))

    def map_input_properties(
        self,
        inputs: Any,
        properties: dict[str, PropertyDefinition],
        mapping: dict[str, str],
        component_name: str,
        property_path: str,
    ) -> Any:
        """The SDK's mapping, with integers as int: every number arrives over gRPC as a float, and
        pulumi 3.272.0 converts integer properties but then overwrites the result with the float."""
        mapped = super().map_input_properties(inputs, properties, mapping, component_name, property_path)
        for schema_name, prop in properties.items():
            value = mapped.get(mapping[schema_name]) if isinstance(mapped, dict) else None
            if prop.type == PropertyType.INTEGER and isinstance(value, float) and value.is_integer():
                mapped[mapping[schema_name]] = int(value)
        return mapped


def serve(args: Optional[list[str]] = None) -> None:
    """Run the provider plugin: print the gRPC port, serve until the engine stops it."""
    provider_main(DockerInWorkspacesProvider(), sys.argv[1:] if args is None else args)


if __name__ == "__main__":
    sys.stdout.write(schema_text())
