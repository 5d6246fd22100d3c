"""The whole program (`__main__.py`), run under mocks for every stack file and for bad configs."""

import pulumi
import pytest
from stacks import run_program, run_stack_file, stack_files

from components import Strategy
from components.security import SecurityLevel

STACKS = stack_files()


def test_the_repository_has_stack_files():
    assert any(p.name == "Pulumi.dev.yaml" for p in STACKS)


@pytest.mark.parametrize("path", STACKS, ids=lambda p: p.name)
def test_every_stack_file_deploys_under_mocks(path):
    import yaml

    declared = yaml.safe_load(path.read_text())["config"]["docker-in-workspaces:workspaces"]
    result = run_stack_file(path)
    exports = result.value["workspaces"]
    assert sorted(exports) == sorted(ws["name"] for ws in declared)
    components = [r for r in result.resources if r.type.startswith("docker-in-workspaces:index:")]
    assert sorted(r.name for r in components) == sorted(exports)
    for ws in declared:
        out = exports[ws["name"]]
        assert out["strategy"] == ws.get("strategy", "sysbox")
        assert out["securityLevel"] in {level.value for level in SecurityLevel}
        assert out["dockerHost"].startswith("unix://")


def test_dev_stack_shows_several_strategies_with_their_levels():
    result = run_stack_file(next(p for p in STACKS if p.name == "Pulumi.dev.yaml"))
    levels = {name: out["securityLevel"] for name, out in result.value["workspaces"].items()}
    assert levels == {"alice": "high", "bob": "low", "carol": "medium", "dave": "low", "erin": "none"}
    assert result.value["target"] == "docker"
    # erin is stopped: volumes only.
    assert not [r for r in result.resources if r.type == "docker:index/container:Container" and r.name == "erin"]
    assert [r for r in result.resources if r.type == "docker:index/volume:Volume" and r.name == "erin-home"]


def test_target_defaults_to_docker_from_pulumi_yaml():
    result = run_program({"docker-in-workspaces:workspaces": [{"name": "a", "image": "img"}]})
    assert result.value["target"] == "docker"
    assert result.value["workspaces"]["a"]["strategy"] == Strategy.SYSBOX.value


@pytest.mark.parametrize(
    ("workspaces", "expected"),
    [
        (
            [{"name": "ok", "image": "i"}, {"name": "bob", "strategy": "dindd", "image": "i"}],
            "workspaces[1].strategy: 'dindd' is not one of: dood, dind, dind-sidecar, dind-rootless, sysbox",
        ),
        ([{"name": "Bob", "image": "i"}], "workspaces[0].name: must be a DNS-1123 label"),
        ([{"name": "a", "image": "i", "imgae": "x"}], "workspaces[0].imgae: unknown key"),
        ([{"name": "a", "image": "i"}, {"name": "a", "image": "i"}], "is used twice"),
        ([{"name": "a", "image": ""}], "workspaces[0].image"),
        ([{"name": "a", "envbuilder": {"devcontainerDir": "x"}}], "workspaces[0].envbuilder.gitUrl: required"),
        ([{"name": "a", "strategy": "dood", "image": "i"}], "workspaces[0].dockerSocketGid: dood needs the GID"),
        ([{"name": "a", "image": "i", "env": {"DOCKER_HOST": "tcp://x"}}], "workspaces[0].env.DOCKER_HOST"),
    ],
)
def test_bad_config_fails_with_one_message_before_anything_is_registered(workspaces, expected):
    with pytest.raises(pulumi.RunError) as error:
        run_program({"docker-in-workspaces:workspaces": workspaces})
    message = str(error.value)
    assert message.startswith("invalid stack config:")
    assert expected in message, message
    assert "Traceback" not in message
    assert error.value.registered == []


def test_unknown_target_is_rejected():
    with pytest.raises(pulumi.RunError, match="target: must be 'docker' or 'kubernetes', got 'k8s'"):
        run_program(
            {"docker-in-workspaces:target": "k8s", "docker-in-workspaces:workspaces": [{"name": "a", "image": "i"}]}
        )


def test_workspaces_are_required():
    with pytest.raises(pulumi.RunError, match="workspaces: Field required"):
        run_program({})


def test_secret_token_from_config_stays_secret():
    token = "cfg-token-7d1e"
    result = run_program(
        {
            "docker-in-workspaces:workspaces": [
                {
                    "name": "a",
                    "strategy": "dind",
                    "allowInsecure": True,
                    "image": "i",
                    "coderAgent": {"url": "https://coder", "token": {"secure": token}, "initScript": "agent"},
                }
            ]
        }
    )
    from harness import plaintext_strings

    for resource in result.resources:
        assert not any(token in s for s in plaintext_strings(resource.raw_inputs)), resource.name
    assert token not in repr(result.value)  # exports carry no token


def test_insecure_workspace_fails_naming_it_unless_acknowledged():
    workspaces = [{"name": "safe", "image": "i"}, {"name": "bob", "strategy": "dind", "image": "i"}]
    with pytest.raises(pulumi.RunError) as error:
        run_program({"docker-in-workspaces:workspaces": workspaces})
    message = str(error.value)
    assert message.startswith("invalid stack config:\n  workspaces[1].allowInsecure: workspace 'bob' uses strategy")
    assert "security level low" in message and "sysbox (high), podman (high), dind-rootless (medium)" in message
    assert error.value.registered == []


def test_stack_wide_acknowledgement_and_workspace_override():
    workspaces = [{"name": "bob", "strategy": "dind", "image": "i"}]
    result = run_program({"docker-in-workspaces:allowInsecure": True, "docker-in-workspaces:workspaces": workspaces})
    assert result.value["workspaces"]["bob"]["securityLevel"] == "low"
    workspaces[0]["allowInsecure"] = False  # the workspace's own word wins over the stack default
    with pytest.raises(pulumi.RunError, match="workspaces\\[0\\].allowInsecure"):
        run_program({"docker-in-workspaces:allowInsecure": True, "docker-in-workspaces:workspaces": workspaces})


def test_unknown_project_config_key_is_rejected():
    with pytest.raises(pulumi.RunError, match="kubernetess: unknown key"):
        run_program(
            {
                "docker-in-workspaces:kubernetess": {"namespace": "x"},
                "docker-in-workspaces:workspaces": [{"name": "a", "image": "i"}],
            }
        )
