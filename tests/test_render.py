"""`python -m components render`: golden renders, independent checks (kubernetes-validate, compose-spec, checkov),
determinism, secrets and bad config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
import yaml
from harness import plaintext_strings, unwrap_secrets
from kube import validate_strict, versions
from stacks import run_program, run_stack_file, stack_names

from components import render
from components.documents import Octal, _Dumper, _PureDumper, dump_yaml
from components.workload import start_script

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
STACKS = stack_names()  # every Pulumi.<stack>.yaml here; the tests that read dev's or k8s's content name them
PRIVILEGED_STRATEGIES = {"dind", "dind-sidecar", "dind-rootless", "envbox"}
UNPRIVILEGED_MEDIUM = {"dind-userns"}
"""Medium without a privileged container: an unmasked /proc inside the pod's own user namespace."""


def regenerate_command(stack: str) -> str:
    return f"venv/bin/python -m components render {stack} --out tests/golden/{stack}"


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def cli(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "components", *args], cwd=cwd, env=environment, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each example stack rendered once (in this process) for the module's tests."""
    out = tmp_path_factory.mktemp("render")
    for stack in STACKS:
        render.render(stack, out / stack, ROOT)
    return {stack: out / stack for stack in STACKS}


def security_rows(stack: str) -> dict[str, render.WorkspaceSecurity]:
    return {ws.name: ws for ws in render.run_stack(stack, ROOT).security}


# --- golden renders -----------------------------------------------------------------------------------------------


def check_golden(stack: str, fresh_dir: Path, golden_root: Path = GOLDEN) -> None:
    """The render in `fresh_dir` is the golden render of `stack`; a stack without one (a user's own stack file)
    is skipped, saying how to start tracking it."""
    golden_dir = golden_root / stack
    if not golden_dir.is_dir():
        pytest.skip(
            reason=f"stack {stack} has no golden render (tests/golden/{stack}/ does not exist), so there is nothing "
            f"to compare its render with; to track it, create one and commit it: {regenerate_command(stack)}"
        )
    golden, fresh = files_of(golden_dir), files_of(fresh_dir)
    hint = (
        f"the render of stack {stack} differs from tests/golden/{stack}. If the change is intended, regenerate "
        f"and review the diff: {regenerate_command(stack)}"
    )
    assert sorted(fresh) == sorted(golden), f"{hint}\nfiles: +{sorted(set(fresh) - set(golden))} " + (
        f"-{sorted(set(golden) - set(fresh))}"
    )
    changed = [name for name in fresh if fresh[name] != golden[name]]
    assert not changed, f"{hint}\nchanged: {changed}"


@pytest.mark.parametrize("stack", STACKS)
def test_golden_render_is_up_to_date(stack, rendered):
    check_golden(stack, rendered[stack])


def test_every_golden_render_belongs_to_a_stack_file():
    orphans = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir() and p.name not in STACKS)
    assert orphans == [], f"tests/golden/ has renders of stacks without a Pulumi.<stack>.yaml: {orphans}"


LIBYAML_ABSENT = "PyYAML was built without libyaml here: the renderer uses the pure-Python dumper, nothing to compare"
TRICKY_STRINGS = [
    "",
    "yes",
    "null",
    "0555",
    "1e3",
    "- item",
    "key: value",
    "#!/bin/sh\nset -eu\n",
    "trailing space \nnext",
    "  leading spaces\nline",
    "no final newline\nend",
    "tab\there",
    "ünïcødé ✓ 日本",
    "x" * 300,
    "a long line of words " * 20,
    "$HOME $$ ${VAR}",
    "'single' \"double\"",
    "a\n\n\nb\n\n",
]


def test_libyaml_dumper_writes_the_same_bytes_as_the_pure_one():
    """The renderer dumps with libyaml when PyYAML has it: every document of the golden renders, and tricky scalars,
    come out byte for byte as the pure-Python dumper writes them (and a golden manifest as it is on disk). One known
    difference: an empty mapping key (`? ''` in pure Python); nothing rendered has one, names and keys are validated
    non-empty."""
    if not yaml.__with_libyaml__:
        pytest.skip(reason=LIBYAML_ABSENT)
    assert issubclass(_Dumper, yaml.CSafeDumper), "libyaml is here but the renderer does not use it"
    assert render._Loader is yaml.CSafeLoader, "libyaml is here but the renderer does not read with it"
    nested = {s: [s, {s: s}] for s in TRICKY_STRINGS if s}
    documents = {"tricky": {"strings": TRICKY_STRINGS, "mode": Octal(0o555), "nested": nested}}
    for path in sorted(GOLDEN.rglob("*.yaml")):
        documents[path.relative_to(GOLDEN).as_posix()] = yaml.safe_load(path.read_text())
    assert len(documents) > 20
    libyaml = {name: dump_yaml(doc, _Dumper) for name, doc in documents.items()}
    pure = {name: dump_yaml(doc, _PureDumper) for name, doc in documents.items()}
    assert [name for name in pure if libyaml[name] != pure[name]] == []
    manifest = "k8s/1-manifest/apps_v1-deployment-workspaces-alice.yaml"
    assert libyaml[manifest] == (GOLDEN / manifest).read_text()
    for stack_file in sorted(ROOT.glob("Pulumi*.yaml")):  # the stack files are read with libyaml's parser too
        text = stack_file.read_text()
        assert yaml.load(text, Loader=render._Loader) == yaml.safe_load(text), stack_file.name


def test_kubernetes_layout_is_render_yaml_to_directory():
    """pulumi-kubernetes' renderPathForResource: <apiVersion with / and : as _>-<kind lowercased>-<namespace or
    default>-<name>.yaml, CRDs in 0-crd/, everything else in 1-manifest/."""
    names = sorted(files_of(GOLDEN / "k8s"))
    assert "1-manifest/apps_v1-deployment-workspaces-alice.yaml" in names
    assert "1-manifest/v1-namespace-default-workspaces.yaml" in names  # cluster-scoped: "default"
    assert "1-manifest/v1-persistentvolumeclaim-workspaces-alice-docker.yaml" in names
    assert render.manifest_path(
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "s"}}
    ) == ("1-manifest/node.k8s.io_v1-runtimeclass-default-s.yaml")
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x.y"}}
    assert render.manifest_path(crd) == "0-crd/apiextensions.k8s.io_v1-customresourcedefinition-default-x.y.yaml"
    for name in names:
        if name.startswith("1-manifest/"):
            body = yaml.safe_load((GOLDEN / "k8s" / name).read_text())
            assert render.manifest_path(body) == name


def test_numbers_are_integers_again(rendered):
    text = (rendered["k8s"] / "1-manifest" / "apps_v1-deployment-workspaces-dave.yaml").read_text()
    assert "failureThreshold: 25\n" in text and ".0\n" not in text
    compose = (rendered["dev"] / "docker-compose.yaml").read_text()
    assert "retries: 3\n" in compose and "retries: 3.0" not in compose


# --- independent checks -------------------------------------------------------------------------------------------


def test_every_rendered_kubernetes_object_validates_strictly(rendered):
    manifests = sorted((rendered["k8s"] / "1-manifest").glob("*.yaml"))
    assert len(manifests) >= 10
    errors = [
        error
        for path in manifests
        for version in versions()
        if (error := validate_strict(yaml.safe_load(path.read_text()), version)) is not None
    ]
    assert not errors, "\n".join(errors)


def test_compose_file_validates_against_the_compose_spec(rendered):
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(rendered["dev"] / render.COMPOSE_FILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_shows_every_running_container(rendered):
    compose = yaml.safe_load((rendered["dev"] / render.COMPOSE_FILE).read_text())
    services = compose["services"]
    # alice (sysbox) and erin (dood) are stopped until the host is set up; each container has its preflight.
    assert sorted(services) == ["bob", "carol", "carol-preflight", "dave", "dave-daemon", "dave-daemon-preflight",
                                "dave-preflight"]  # fmt: skip
    assert services["bob"]["privileged"] is True
    assert services["dave"]["network_mode"] == "service:dave-daemon"
    assert services["dave"]["depends_on"] == {
        "dave-daemon": {"condition": "service_healthy"},
        "dave-daemon-preflight": {"condition": "service_completed_successfully"},
        "dave-preflight": {"condition": "service_completed_successfully"},
    }
    assert services["carol"]["user"] == "1000"
    # The start script is inline in the entrypoint (written once, aliased after: equal after loading).
    assert services["carol"]["entrypoint"] == ["/bin/sh", "-c", start_script().replace("$", "$$"), "start-docker.sh"]
    assert services["carol-preflight"]["entrypoint"][-1] == "--check"
    text = (rendered["dev"] / render.COMPOSE_FILE).read_text()
    assert text.count("- &id001") == 1 and text.count("- *id001") == 5  # carol's check, dave's four containers
    assert "erin-home" in compose["volumes"] and compose["volumes"]["erin-home"]["external"] is False
    assert compose["volumes"]["dave-socket"]["x-retain-on-delete"] is False
    # `$` is escaped for compose's interpolation: the Envbuilder init script keeps its shell variables.
    assert "$${DIW_DOCKERD_MODE:-rootful}" in services["bob"]["environment"]["ENVBUILDER_INIT_SCRIPT"]


def checkov_command() -> list[str] | None:
    """checkov pins packaging<24 and pulumi needs >=26: it lives in its own venv, `<venv>-checkov` beside ours."""
    candidates = [
        os.environ.get("DIW_CHECKOV"),
        str(Path(sys.prefix).with_name(Path(sys.prefix).name + "-checkov") / "bin" / "checkov"),
        shutil.which("checkov"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return [candidate]
    return None


@pytest.fixture(scope="module")
def checkov_results(rendered) -> dict[str, dict[str, set[str]]]:
    """checkov on the k8s render, once: workspace -> {"failed": check ids, "passed": check ids}."""
    command = checkov_command()
    if command is None:
        message = (
            "checkov is not installed: python3 -m venv venv-checkov && "
            "venv-checkov/bin/pip install -r requirements-checkov.txt (or set DIW_CHECKOV)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(reason=message)
    result = subprocess.run(
        [
            *command,
            "-d",
            str(rendered["k8s"]),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--compact",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        # No network: no Bridgecrew/Prisma guideline mapping, no policy download.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: some checks failed
    report = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    by_workspace: dict[str, dict[str, set[str]]] = {}
    for outcome, key in (("failed", "failed_checks"), ("passed", "passed_checks")):
        for check in report["results"][key]:
            kind, _namespace, name = check["resource"].split(".", 2)
            if kind != "Deployment":
                continue
            by_workspace.setdefault(name, {"failed": set(), "passed": set()})[outcome].add(check["check_id"])
    return by_workspace


def test_checkov_agrees_with_each_workspaces_declared_level(checkov_results):
    declared = security_rows("k8s")
    assert sorted(checkov_results) == sorted(declared)
    for name, ws in declared.items():
        failed, passed = checkov_results[name]["failed"], checkov_results[name]["passed"]
        privileged, socket = "CKV_K8S_16" in failed, "CKV_K8S_27" in failed
        # Evaluated, not just missing from the output.
        assert {"CKV_K8S_16", "CKV_K8S_27"} <= failed | passed, (name, failed, passed)
        assert privileged == bool(ws.privileged), f"{name}: checkov privileged={privileged}, plan says {ws.privileged}"
        assert socket == bool(ws.host_sockets), f"{name}: checkov docker socket={socket}, plan says {ws.host_sockets}"
        # The levels the workspace declares mean exactly these findings. Medium without a privileged container is a
        # confinement turned off that checkov has no check for (dind-userns: procMount Unmasked); checkov agrees
        # that such a pod's uids are not the node's (CKV_K8S_40 passes for hostUsers: false).
        expected = {
            "high": (False, False),
            "medium": (ws.strategy not in UNPRIVILEGED_MEDIUM, False),
            "low": (True, False),
            "none": (False, True),
        }[ws.security_level]
        assert (privileged, socket) == expected, (name, ws.security_level)
        if ws.strategy in UNPRIVILEGED_MEDIUM:
            assert "CKV_K8S_40" in passed, (name, failed)
        # And by strategy, as DESIGN.md's table says.
        assert privileged == (ws.strategy in PRIVILEGED_STRATEGIES), name
        assert socket == (ws.strategy == "dood"), name
        if ws.strategy == "sysbox":
            assert not privileged and not socket


# --- the security report ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_security_report_matches_the_components_outputs(stack, rendered):
    exports = run_stack_file(ROOT / f"Pulumi.{stack}.yaml").value["workspaces"]
    rows = security_rows(stack)
    assert sorted(rows) == sorted(exports)
    report = (rendered[stack] / render.REPORT_FILE).read_text()
    for name, ws in rows.items():
        assert ws.security_level == exports[name]["securityLevel"]
        assert ws.strategy == exports[name]["strategy"]
        if "podSecurityLevel" in exports[name]:
            assert ws.pod_security_level == exports[name]["podSecurityLevel"]
        line = next(line for line in report.splitlines() if line.startswith(f"| {name} |"))
        assert f"**{ws.security_level}**" in line and f"`{ws.strategy}`" in line


def test_security_report_privileged_and_socket_agree_with_the_rendered_objects(rendered):
    rows = security_rows("k8s")
    for name, ws in rows.items():
        body = yaml.safe_load(
            (rendered["k8s"] / "1-manifest" / f"apps_v1-deployment-workspaces-{name}.yaml").read_text()
        )
        pod = body["spec"]["template"]["spec"]
        containers = [*pod.get("initContainers", []), *pod["containers"]]
        privileged = sorted(c["name"] for c in containers if c["securityContext"].get("privileged"))
        host_paths = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
        sockets = sorted(h["path"] for h in host_paths.values() if h.get("type") == "Socket")
        assert privileged == ws.privileged and sockets == ws.host_sockets, name
        # Any other host path (envbox's /usr/src, /lib/modules) is mounted read-only wherever it is mounted.
        others = {n for n, h in host_paths.items() if h.get("type") != "Socket"}
        for container in containers:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] not in others or mount.get("readOnly") is True, (name, mount)
    compose = yaml.safe_load((rendered["dev"] / render.COMPOSE_FILE).read_text())["services"]
    for name, ws in security_rows("dev").items():
        if not ws.running:
            assert name not in compose
            continue
        mine = {key: s for key, s in compose.items() if s["labels"]["docker-in-workspaces.workspace"] == name}
        privileged = sorted(s["labels"]["docker-in-workspaces.role"] for s in mine.values() if s.get("privileged"))
        assert privileged == ws.privileged, name


# --- determinism --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_rendering_twice_gives_identical_bytes(stack, rendered, tmp_path):
    render.render(stack, tmp_path / "again", ROOT)
    assert files_of(tmp_path / "again") == files_of(rendered[stack])


def test_another_process_with_another_hash_seed_renders_the_same_bytes(rendered, tmp_path):
    for stack in STACKS:
        result = cli("render", stack, "--out", str(tmp_path / stack), PYTHONHASHSEED="4242")
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        assert files_of(tmp_path / stack) == files_of(rendered[stack])


# --- secrets ------------------------------------------------------------------------------------------------------

TOKEN = "coder-agent-token-3f9a7c1e5d"
REGISTRY_AUTH = "eyJhdXRocyI6IHsici5leGFtcGxlIjoge319fQ=="
CIPHERTEXT = "v1:AAAABBBBccccDDDDeeee/ciphertext=="
SECURE_TOKEN = {"secure": CIPHERTEXT}
"""A plaintext token is refused (test_plaintext_secrets_are_refused_with_the_command_that_fixes_them); the registry
credentials stay plaintext in these stacks, inside a key that the secure token makes secret: the components must
still keep them secret."""


def project(tmp_path: Path, config: dict) -> Path:
    """A copy of this project with one stack, `test`."""
    directory = tmp_path / "project"
    directory.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / name, directory / name)
    (directory / "Pulumi.test.yaml").write_text(yaml.safe_dump({"config": config}))
    return directory


def secret_workspaces(token) -> list[dict]:
    agent = {"url": "https://coder.example.com", "token": token, "initScript": "echo agent"}
    return [
        {"name": "alice", "strategy": "sysbox", "image": "img", "coderAgent": agent},
        {
            "name": "bob",
            "strategy": "dind",
            "allowInsecure": True,
            "envbuilder": {"gitUrl": "https://example.com/repo", "dockerConfigBase64": REGISTRY_AUTH},
            "coderAgent": agent,
        },
    ]


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_secrets_are_placeholders_never_plaintext(target, tmp_path):
    config = {"docker-in-workspaces:target": target, "docker-in-workspaces:workspaces": secret_workspaces(SECURE_TOKEN)}
    out = tmp_path / "out"
    render.render("test", out, project(tmp_path, config))
    texts = {name: data.decode() for name, data in files_of(out).items()}
    for name, text in texts.items():
        assert TOKEN not in text, name
        assert REGISTRY_AUTH not in text, name
    everything = "\n".join(texts.values())
    assert render.PLACEHOLDER in everything
    if target == "docker":
        service = yaml.safe_load(texts[render.COMPOSE_FILE])["services"]["alice"]
        compose = yaml.safe_load(texts[render.COMPOSE_FILE])
        # The token is a file (a config with the placeholder as content); the env stays readable.
        [config] = service["configs"]
        assert config["target"] == "/run/docker-in-workspaces/coder-agent-token"
        assert compose["configs"][config["source"]] == {"content": render.PLACEHOLDER}
        assert service["environment"]["CODER_AGENT_TOKEN_FILE"] == "/run/docker-in-workspaces/coder-agent-token"
    else:
        secret = yaml.safe_load(texts["1-manifest/v1-secret-workspaces-alice-secrets.yaml"])
        assert secret["stringData"]["CODER_AGENT_TOKEN"] == render.PLACEHOLDER


def test_every_secret_wrapped_input_is_replaced(tmp_path):
    """Walk the raw inputs: whatever the program marked secret is a placeholder in the redacted inputs."""
    config = {
        "docker-in-workspaces:target": "kubernetes",
        "docker-in-workspaces:workspaces": secret_workspaces(SECURE_TOKEN),
    }
    result = render.run_stack("test", project(tmp_path, config))
    secrets_seen = 0
    for record in result.records:
        plain = json.dumps(render.redact(record.raw_inputs))
        assert CIPHERTEXT not in plain and REGISTRY_AUTH not in plain, record.name
        secrets_seen += REGISTRY_AUTH in json.dumps(unwrap_secrets(record.raw_inputs))
    assert secrets_seen  # the credentials were there, wrapped


@pytest.mark.parametrize("target", ["docker", "kubernetes"])
def test_plaintext_secrets_are_refused_with_the_command_that_fixes_them(target, tmp_path):
    config = {"docker-in-workspaces:target": target, "docker-in-workspaces:workspaces": secret_workspaces(TOKEN)}
    result = cli("render", "test", "--out", str(tmp_path / "out"), cwd=project(tmp_path, config))
    assert result.returncode == 2, result.stdout
    assert (
        "workspaces[0].coderAgent.token: a secret written in plaintext in the stack file; make it a secret with "
        "`pulumi config set --secret --path 'workspaces[0].coderAgent.token' <value>`" in result.stderr
    )
    assert "workspaces[1].coderAgent.token" in result.stderr  # every workspace's, in one run
    assert not (tmp_path / "out").exists()


def test_encrypted_stack_values_are_never_decrypted_nor_copied(tmp_path):
    config = {
        "docker-in-workspaces:target": "docker",
        "docker-in-workspaces:workspaces": secret_workspaces({"secure": CIPHERTEXT}),
    }
    out = tmp_path / "out"
    result = cli("render", "test", "--out", str(out), cwd=project(tmp_path, config))
    assert result.returncode == 0, result.stderr
    texts = "\n".join(data.decode() for data in files_of(out).values())
    assert CIPHERTEXT not in texts and render.PLACEHOLDER in texts


# --- errors -------------------------------------------------------------------------------------------------------


def test_bad_config_fails_like_pulumi_up(tmp_path):
    workspaces = [{"name": "ok", "image": "i"}, {"name": "bob", "strategy": "dindd", "image": "i"}]
    with pytest.raises(pulumi.RunError) as raised:  # what the program says under `pulumi up`
        run_program({"docker-in-workspaces:workspaces": workspaces})
    expected = str(raised.value)
    assert expected.startswith("invalid stack config:")
    out = tmp_path / "out"
    result = cli(
        "render", "test", "--out", str(out), cwd=project(tmp_path, {"docker-in-workspaces:workspaces": workspaces})
    )
    assert result.returncode == 2
    assert result.stderr == f"error: {expected}\n"
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not out.exists()


def test_unknown_stack_is_a_clear_error(tmp_path):
    result = cli("render", "nope", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "no stack file Pulumi.nope.yaml" in result.stderr and "Pulumi.dev.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_refuses_to_overwrite_a_directory_it_did_not_write(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(render.RenderError, match="refusing to render into"):
        render.render("dev", tmp_path, ROOT)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_second_render_replaces_the_first(tmp_path):
    render.render("k8s", tmp_path, ROOT)
    (tmp_path / "1-manifest" / "v1-configmap-workspaces-gone.yaml").write_text("stale")
    render.render("dev", tmp_path, ROOT)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "docker-compose.yaml",
        "security-report.md",
    ]


def rendered_env(files: dict[str, str]) -> dict[str, dict[str, str]]:
    """Per container (compose service, or `<manifest>/<container>`): its env, as the render shows it."""
    found: dict[str, dict[str, str]] = {}
    for name, text in files.items():
        if name == render.COMPOSE_FILE:
            for service, body in yaml.safe_load(text)["services"].items():
                found[service] = {k: str(v) for k, v in (body.get("environment") or {}).items()}
        elif name.endswith(".yaml") and "deployment" in name:
            spec = yaml.safe_load(text)["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                found[f"{name}/{container['name']}"] = {
                    e["name"]: e.get("value", "<valueFrom>") for e in container.get("env", [])
                }
    return found


@pytest.mark.parametrize("stack", [*STACKS, "secrets-docker", "secrets-kubernetes"])
def test_only_secrets_are_hidden_in_the_render_of_every_stack(stack, tmp_path):
    """Previews are for reading: every env value the program did not mark secret is shown as it is."""
    if stack.startswith("secrets-"):
        target = stack.removeprefix("secrets-")
        config = {
            "docker-in-workspaces:target": target,
            "docker-in-workspaces:workspaces": secret_workspaces(SECURE_TOKEN),
        }
        directory, name = project(tmp_path, config), "test"
    else:
        directory, name = ROOT, stack
    out = tmp_path / "out"
    render.render(name, out, directory)
    files = {n: data.decode() for n, data in files_of(out).items()}
    envs = rendered_env(files)
    assert envs, "nothing rendered"
    for container, env in envs.items():
        hidden = sorted(key for key, value in env.items() if render.PLACEHOLDER in value)
        assert hidden == [], f"{container}: {hidden} hidden although not secret"
        for key in ("CODER_AGENT_TOKEN", "ENVBUILDER_DOCKER_CONFIG_BASE64"):  # from a Secret, or a file
            assert env.get(key, "<valueFrom>") == "<valueFrom>", container
    for name, text in files.items():
        assert TOKEN not in text and REGISTRY_AUTH not in text, name
        if "v1-secret-" in name:  # a Secret holds only secrets, each hidden
            data = yaml.safe_load(text)["stringData"]
            assert set(data) <= {"CODER_AGENT_TOKEN", "ENVBUILDER_DOCKER_CONFIG_BASE64"}, name
            assert set(data.values()) == {render.PLACEHOLDER}, name


def test_a_users_own_stack_file_with_secure_values_goes_through_the_stack_driven_tests(tmp_path):
    """A user's Pulumi.mine.yaml, with a `secure:` value as `pulumi config set --secret` writes it, beside the
    examples: discovered, run and rendered like them (the value a secret, its ciphertext nowhere), and the golden
    comparison skips it with a message saying how to track it, instead of failing or crashing."""
    directory = tmp_path / "project"
    directory.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", *(f"Pulumi.{stack}.yaml" for stack in STACKS)):
        shutil.copy(ROOT / name, directory / name)
    agent = {"url": "https://coder.example.com", "token": {"secure": CIPHERTEXT}, "initScript": "echo agent"}
    config = {"docker-in-workspaces:workspaces": [{"name": "mine", "image": "img", "coderAgent": agent}]}
    (directory / "Pulumi.mine.yaml").write_text(yaml.safe_dump({"config": config}))
    assert stack_names(directory) == sorted([*STACKS, "mine"])

    result = run_stack_file(directory / "Pulumi.mine.yaml")
    assert result.value["workspaces"]["mine"]["securityLevel"] == "high"
    for resource in result.resources:  # the token reached the workspace, as a secret
        assert not [s for s in plaintext_strings(resource.raw_inputs) if CIPHERTEXT in s or render.PLACEHOLDER in s]
    assert any(render.PLACEHOLDER in json.dumps(r.inputs) for r in result.resources)

    out = tmp_path / "out"
    render.render("mine", out, directory)
    assert all(CIPHERTEXT not in data.decode() for data in files_of(out).values())
    with pytest.raises(pytest.skip.Exception, match=r"stack mine has no golden render .*: venv/bin/python -m compon"):
        check_golden("mine", out)


def test_envbox_on_a_docker_host_renders_a_compose_file_the_spec_accepts(tmp_path):
    """A test-only stack: the shipped dev stack has no envbox (it needs a privileged-capable host and its image)."""
    workspace = {"name": "frank", "strategy": "envbox", "allowInsecure": True, "image": "img", "command": ["make"]}
    config = {"docker-in-workspaces:target": "docker", "docker-in-workspaces:workspaces": [workspace]}
    out = tmp_path / "out"
    render.render("test", out, project(tmp_path, config))
    text = (out / render.COMPOSE_FILE).read_text()
    service = yaml.safe_load(text)["services"]["frank"]
    assert service["image"] == "ghcr.io/coder/envbox:0.6.7" and service["privileged"] is True
    assert service["cgroup"] == "host" and service["command"] == ["/envbox", "docker"]
    assert {"type": "bind", "source": "/lib/modules", "target": "/lib/modules", "read_only": True} in service["volumes"]
    assert service["environment"]["CODER_INNER_IMAGE"] == "img"
    assert service["healthcheck"]["test"] == ["CMD", "docker", "exec", "workspace_cvm", "docker", "info"]
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(out / render.COMPOSE_FILE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| frank |" in (out / render.REPORT_FILE).read_text()
