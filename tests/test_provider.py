"""provider.py's additions to the SDK's component provider, each with a test that fails once upstream has it
(then the addition is dead code: delete it and its test)."""

from typing import Annotated, Optional

import pulumi
import pytest
from pulumi.provider.experimental.analyzer import Analyzer as SdkAnalyzer
from pulumi.provider.experimental.component import ComponentProvider
from typing_extensions import NotRequired, TypedDict

import provider
from components import DockerHostWorkspaceArgs, WorkspaceArgs


class TinyBaseArgs(TypedDict):
    count: int
    """How many."""
    note: NotRequired[str]
    """A docstring
    of two lines."""


class TinyArgs(TinyBaseArgs):
    token: NotRequired[Annotated[pulumi.Input[str], "secret"]]
    """A secret."""


class TinyBase(pulumi.ComponentResource):
    size: pulumi.Output[int]
    """Its size."""


class Tiny(TinyBase):
    """A component for these tests only."""

    def __init__(self, name: str, args: TinyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("docker-in-workspaces:index:Tiny", name, {}, opts)


class PlainArgs(TypedDict):
    count: int
    """How many."""


class Plain(pulumi.ComponentResource):
    """The same without a secret: what the stock analyzer can read."""

    def __init__(self, name: str, args: PlainArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("docker-in-workspaces:index:Plain", name, {}, opts)


def mapped(host: ComponentProvider, args_type: type, wire: dict) -> dict:
    properties, mapping = host.analyzer.analyze_type(args_type, is_component_output=False)
    return host.map_input_properties(wire, properties, mapping, "Tiny", "")


# --- inherited docstrings ------------------------------------------------------------------------------------


def test_stock_analyzer_still_misses_the_docstring_of_an_inherited_field():
    assert SdkAnalyzer(provider.PACKAGE).get_docstring(DockerHostWorkspaceArgs, "image") is None, (
        "the SDK's analyzer reads inherited field docstrings now: drop the loop in provider.Analyzer.get_docstring"
    )
    ours = provider.Analyzer(provider.PACKAGE).get_docstring(DockerHostWorkspaceArgs, "image")
    assert ours == SdkAnalyzer(provider.PACKAGE).get_docstring(WorkspaceArgs, "image")
    assert ours and "Workspace image" in ours


def test_stock_analyzer_still_keeps_the_indentation_of_a_multi_line_docstring():
    stock = SdkAnalyzer(provider.PACKAGE).get_docstring(TinyBaseArgs, "note")
    assert stock == "A docstring\n    of two lines.", (
        "the SDK's analyzer dedents field docstrings now: drop inspect.cleandoc in provider.Analyzer.get_docstring"
    )
    assert provider.Analyzer(provider.PACKAGE).get_docstring(TinyBaseArgs, "note") == "A docstring\nof two lines."


def test_an_inherited_docstring_comes_from_the_declaring_base():
    assert provider.Analyzer(provider.PACKAGE).get_docstring(TinyArgs, "count") == "How many."


def test_stock_analyzer_still_misses_the_docstring_of_an_inherited_output():
    stock = SdkAnalyzer(provider.PACKAGE).get_docstring(Tiny, "size")
    assert stock is None, "the SDK's analyzer reads inherited docstrings now: drop provider.Analyzer.get_docstring"
    assert provider.Analyzer(provider.PACKAGE).get_docstring(Tiny, "size") == "Its size."


# --- secret flags --------------------------------------------------------------------------------------------


def test_stock_analyzer_still_cannot_mark_an_annotated_input_secret():
    try:
        schema = ComponentProvider([Tiny], provider.PACKAGE).schema or ""
    except TypeError:  # it cannot even read Annotated[...] (pulumi 3.272.0)
        return
    assert '"secret"' not in schema, (
        "the SDK's analyzer marks Annotated[..., 'secret'] inputs secret now: drop provider.Analyzer.analyze_property"
        " and DockerInWorkspacesProvider's secret marking"
    )


def test_our_provider_marks_the_annotated_input_secret_and_nothing_else():
    schema = provider.package_schema([Tiny])
    inputs = schema["resources"]["docker-in-workspaces:index:Tiny"]["inputProperties"]
    assert inputs["token"]["secret"] is True
    assert "secret" not in inputs["count"]
    assert inputs["token"]["type"] == "string"


# --- integer inputs ------------------------------------------------------------------------------------------


def test_sdk_still_hands_an_integer_input_over_as_the_wire_float():
    value = mapped(ComponentProvider([Plain], provider.PACKAGE), PlainArgs, {"count": 3.0})["count"]
    assert isinstance(value, float), (
        "the SDK converts integer inputs to int now: drop DockerInWorkspacesProvider.map_input_properties"
    )


@pytest.mark.parametrize("wire, expected", [(3.0, 3), (1460.0, 1460)])
def test_our_provider_hands_an_integer_input_over_as_int(wire, expected):
    value = mapped(provider.DockerInWorkspacesProvider([Tiny]), TinyArgs, {"count": wire})["count"]
    assert value == expected and type(value) is int


def test_a_non_integral_float_for_an_integer_input_is_not_rounded():
    value = mapped(provider.DockerInWorkspacesProvider([Tiny]), TinyArgs, {"count": 2.5})["count"]
    assert value == 2.5  # left as sent, so the component's own validation names the field
