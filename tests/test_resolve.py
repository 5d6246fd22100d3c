"""One declaration, one validation, one resolve: both components and the stack config agree on bad input,
each in its caller's spelling, and the stack program resolves each workspace once."""

import textwrap

import pulumi
import pytest
from harness import run
from stacks import run_program

from components import DockerHostWorkspace, KubernetesWorkspace, render, resolve
from components.config import ConfigError, load_stack_config
from components.fields import FieldError

COMPONENTS = [DockerHostWorkspace, KubernetesWorkspace]


def refused(component, args):
    with pytest.raises(FieldError) as error:
        run(lambda: component("alice", args))
    assert error.value.registered == []  # nothing, not even the component
    return str(error.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"stratgy": "dind", "image": "x"}, "stratgy: unknown key; did you mean strategy?"),
        ({"runing": False, "image": "x"}, "runing: unknown key; did you mean running?"),
        ({"image": "x", "mtu": 100}, "mtu: must be a whole number from 576 to 65535, got 100"),
        ({"image": "x", "mtu": "1500"}, "mtu: must be a whole number from 576 to 65535, got '1500'"),
        ({"image": "x", "running": "no"}, "running: must be true or false, got 'no'"),
        ({"image": "x", "coder_agent": {"url": "u", "token": "t"}}, "coder_agent.init_script: required"),
        ({"image": "x", "envbuilder": {"git_url": "g", "gitUrl": "g"}}, "envbuilder.gitUrl: unknown key; did you mean"),
        ({"image": "x", "strategy": "dind"}, "allow_insecure: workspace 'alice' uses strategy dind"),
        ({"image": "x", "env": {"DIW_X": "1"}}, "env.DIW_X: set by the component"),
    ],
)
def test_both_components_refuse_the_same_mistake_with_the_same_message(args, message):
    messages = [refused(component, args) for component in COMPONENTS]
    assert messages[0] == messages[1]
    assert messages[0].startswith(message), messages[0]


def test_a_typo_no_longer_gives_a_silent_default():
    assert "did you mean strategy" in refused(DockerHostWorkspace, {"stratgy": "dind", "image": "x"})
    assert "did you mean running" in refused(DockerHostWorkspace, {"runing": False, "image": "x"})


def config_error(workspaces, **more) -> str:
    with pytest.raises(ConfigError) as error:
        load_stack_config({"workspaces": workspaces, **more})
    return str(error.value)


@pytest.mark.parametrize(
    ("workspace", "line"),
    [
        ({"mtu": 100}, "workspaces[0].mtu: must be a whole number from 576 to 65535, got 100"),
        ({"strategy": "dind"}, "workspaces[0].allowInsecure: workspace 'a' uses strategy dind"),
        ({"coderAgent": {"url": "u", "token": {"x": 1}}}, "workspaces[0].coderAgent.token: must be a non-empty string"),
        ({"coderAgent": {"url": "u", "token": "t"}}, "workspaces[0].coderAgent.initScript: required"),
        ({"dockerSocketGID": 1}, "workspaces[0].dockerSocketGID: unknown key; did you mean dockerSocketGid?"),
        ({"allow_insecure": True}, "workspaces[0].allow_insecure: unknown key; did you mean allowInsecure?"),
        ({"envbuilder": {"git_url": "g"}}, "workspaces[0].envbuilder.git_url: unknown key; did you mean gitUrl?"),
        ({"command": []}, "workspaces[0].command: must not be empty"),
    ],
)
def test_stack_config_errors_are_in_camel_case(workspace, line):
    message = config_error([{"name": "a", "image": "i", **workspace}])
    assert line in message, message
    assert "_" not in message.split(": ", 1)[0].replace("allow_insecure", "").replace("git_url", "")


def test_the_insecure_refusal_names_the_camel_case_fix():
    message = config_error([{"name": "a", "image": "i", "strategy": "dind"}])
    assert "acknowledge it with allowInsecure: true" in message and "allow_insecure" not in message


def test_kubernetes_block_errors_name_the_block_with_an_example():
    message = config_error([{"name": "a", "image": "i"}], target="kubernetes", kubernetes={"dataRootSize": "20 GB"})
    assert "kubernetes.dataRootSize: must be a Kubernetes quantity such as 20Gi or 500m, got '20 GB'" in message
    message = config_error([{"name": "a", "image": "i"}], target="kubernetes", kubernetes={"storageClas": "x"})
    assert "kubernetes.storageClas: unknown key; did you mean storageClass?" in message
    message = config_error([{"name": "a", "image": "i", "namespace": "x"}], target="kubernetes")
    assert "workspaces[0].namespace: unknown key" in message  # the block's fields are not a workspace's


def test_every_bad_workspace_gets_its_line():
    message = config_error([{"name": "a", "image": "i", "mtu": 1}, {"name": "b"}, {"name": "c", "image": "i"}])
    assert message.splitlines()[1:] == [
        "  workspaces[0].mtu: must be a whole number from 576 to 65535, got 1",
        "  workspaces[1].image: required unless envbuilder is given (then envbuilder builds the image)",
    ]


def test_plaintext_secrets_in_stack_config_are_refused_with_the_fix():
    agent = {"url": "https://coder", "token": "t0ken", "initScript": "agent"}
    workspaces = [{"name": "a", "image": "i", "coderAgent": agent}]
    with pytest.raises(pulumi.RunError) as error:
        run_program({"docker-in-workspaces:workspaces": workspaces})
    assert (
        "workspaces[0].coderAgent.token: a secret written in plaintext in the stack file; make it a secret with "
        "`pulumi config set --secret --path 'workspaces[0].coderAgent.token' <value>`"
    ) in str(error.value)
    assert "t0ken" not in str(error.value)
    agent["token"] = {"secure": "t0ken"}
    assert run_program({"docker-in-workspaces:workspaces": workspaces}).value["workspaces"]["a"]["securityLevel"]


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_the_program_resolves_each_workspace_once(target, monkeypatch):
    calls = []
    original = resolve._resolve
    monkeypatch.setattr(resolve, "_resolve", lambda name, args: calls.append(name) or original(name, args))
    workspaces = [{"name": n, "image": "i"} for n in ("a", "b", "c")]
    run_program({"docker-in-workspaces:target": target, "docker-in-workspaces:workspaces": workspaces})
    assert sorted(calls) == ["a", "b", "c"]


def test_the_security_report_covers_any_program_that_uses_the_components(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: someone-elses-project\nruntime: python\n")
    (tmp_path / "Pulumi.test.yaml").write_text("config: {}\n")
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent(
            """
            from components import DockerHostWorkspace, KubernetesWorkspace
            DockerHostWorkspace("web", {"image": "i", "strategy": "dind", "allow_insecure": True})
            KubernetesWorkspace("api", {"image": "i", "strategy": "dood", "docker_socket_gid": 998,
                                        "allow_insecure": True, "namespace": "team"})
            """
        )
    )
    rendered = render.run_stack("test", tmp_path)
    report = {ws.name: ws for ws in rendered.security}
    assert set(report) == {"web", "api"}
    assert (report["web"].target, report["web"].strategy, report["web"].security_level) == ("docker", "dind", "low")
    assert report["web"].privileged == ["workspace"]
    assert report["api"].host_sockets == ["/var/run/docker.sock"] and report["api"].namespace == "team"
    assert (report["api"].security_level, report["api"].pod_security_level) == ("none", "privileged")
