"""The README's config reference is generated from the declarations (components/reference.py): it cannot drift."""

import typing
from pathlib import Path

import pytest

from components import reference
from components.args import CoderAgentArgs, EnvbuilderArgs, WorkspaceArgs
from components.fields import _INPUT_NAMES, Default, fields
from components.kubernetes.args import KubernetesResourcesArgs, KubernetesSettingsArgs, TolerationArgs
from components.resolve import resolve_workspace

ROOT = Path(__file__).resolve().parent.parent
ARGS_TYPES = [
    WorkspaceArgs,
    EnvbuilderArgs,
    CoderAgentArgs,
    KubernetesSettingsArgs,
    TolerationArgs,
    KubernetesResourcesArgs,
]


def test_the_readme_holds_the_generated_reference():
    text = (ROOT / "README.md").read_text()
    assert reference.updated(text) == text, (
        "README.md is out of date: venv/bin/python -m components.reference --update README.md"
    )


@pytest.mark.parametrize("typ", ARGS_TYPES, ids=lambda t: t.__name__)
def test_every_field_has_a_doc_and_every_documented_default_is_the_declared_one(typ):
    for name, decl in fields(typ).items():
        assert decl.doc, f"{typ.__name__}.{name} has no docstring"
        # A default lives in its Default marker only; a docstring that states one too could disagree.
        assert "default `" not in decl.doc.lower(), f"{typ.__name__}.{name}: say the default with Default(...)"
        row = next(line for line in reference._table(typ) if line.startswith(f"| `{reference.to_camel(name)}` |"))
        if decl.default is not None:
            assert reference._code(decl.default.value) in row


def test_the_defaults_are_what_resolve_uses():
    resolved = resolve_workspace("alice", {"image": "i", "allow_insecure": True})
    declared = {name: decl.default.value for name, decl in fields(WorkspaceArgs).items() if decl.default}
    declared.pop("allow_insecure")  # given above: the default (False) refuses nothing here but would hide the rest
    assert {key: resolved.args[key] for key in declared} == declared
    options = resolved.plan
    assert options.strategy == declared["strategy"]
    assert resolved.daemon.ready_timeout == declared["daemon_ready_timeout"]
    assert resolved.running is declared["running"]
    assert any(m.path == declared["home_path"] for m in resolved.plan.workspace.mounts)


def test_update_rewrites_only_the_marked_region(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{reference.BEGIN}\nstale\n{reference.END}\n\nafter\n")
    assert reference.main(["--update", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# title\n\n") and text.endswith(f"{reference.END}\n\nafter\n")
    assert "stale" not in text and "| `homePath` |" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no config reference region"):
        reference.main(["--update", str(readme)])


def test_annotations_use_only_markers_the_checker_knows():
    known = (Default, *typing.get_args(typing.Union[reference.Between, reference.Matches]))
    for typ in ARGS_TYPES:
        for name, hint in typing.get_type_hints(typ, localns=_INPUT_NAMES, include_extras=True).items():
            for arg in typing.get_args(hint):
                if typing.get_origin(arg) is typing.Annotated:
                    for meta in typing.get_args(arg)[1:]:
                        assert meta == "secret" or isinstance(meta, known), f"{typ.__name__}.{name}: {meta!r}"
