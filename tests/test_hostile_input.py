"""Hostile input: mutated stack configs, and shell metacharacters everywhere a value meets a shell.

Property-based (hypothesis), derandomized so CI is reproducible, with modest example counts.

- A stack config either deploys or fails with ONE `pulumi.RunError` ("invalid stack config:",
  naming a path) before anything is registered.
- Values never become shell: the Envbuilder init script runs the workload text exactly as given,
  the start script passes its knobs to dockerd as single arguments (or rejects them), and names
  and env keys with metacharacters are rejected by the config model and the component args.
"""

from __future__ import annotations

import copy
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from harness import run
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from stacks import ROOT, run_program

from components import DockerHostWorkspace, DockerHostWorkspaceArgs, Strategy, program
from components.config import ConfigError, load_stack_config
from components.workload import _HEREDOC_MARK, _INLINE_SCRIPT, envbuilder_init_script, start_script

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    database=None,  # no .hypothesis/ directory in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FEW = settings(SETTINGS, max_examples=60)

DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONTAINER = "docker:index/container:Container"

# --- values ---------------------------------------------------------------------------------------------------------

METACHARACTERS = "'\"`$();|&<>*?[]{}\\!#~=%^ \t\n\r"
INJECTIONS = [
    "'; touch {pwned}; '",
    '"; touch {pwned}; "',
    "$(touch {pwned})",
    "`touch {pwned}`",
    "\ntouch {pwned}\n",
    f"\n{_HEREDOC_MARK}\ntouch {{pwned}}\n",
    f"{_HEREDOC_MARK}\ntouch {{pwned}}",
    "\\'; touch {pwned}; echo \\'",
    "${{IFS}}touch${{IFS}}{pwned}",
    "EOF\ntouch {pwned}\nEOF",
]
SHELLISH = st.text(
    alphabet=st.one_of(
        st.sampled_from(METACHARACTERS),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    ),
    max_size=40,
)
"""Text rich in shell metacharacters (no NUL: it cannot be in argv or the environment)."""
STRATEGY_STRINGS = st.one_of(
    st.sampled_from([s.value for s in Strategy]),
    st.sampled_from(["DIND", "dind ", " sysbox", "dind_sidecar", "rootless", "", "none", "Sysbox", "dood\n"]),
    SHELLISH,
)
NAMES = st.one_of(
    st.from_regex(DNS1123, fullmatch=True),
    st.sampled_from(["Alice", "a_b", "-a", "a-", "a.b", "a b", "a;rm -rf /", "$(id)", "ä", "a\n", "x" * 64, ""]),
    SHELLISH,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # nan and inf too: YAML has .nan and .inf
    SHELLISH,
    STRATEGY_STRINGS,
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(SHELLISH, st.sampled_from(["name"])), children, max_size=3),
    ),
    max_leaves=8,
)
KNOWN_KEYS = [
    "name",
    "strategy",
    "image",
    "running",
    "command",
    "env",
    "homePath",
    "dindImage",
    "dockerSocketGid",
    "daemonSocketGid",
    "mtu",
    "defaultAddressPool",
    "daemonReadyTimeout",
    "runtime",
    "envbuilder",
    "coderAgent",
    "gitUrl",
    "initScript",
    "token",
    "url",
    "allowInsecure",
    "target",
    "workspaces",
    "kubernetes",
    "namespace",
    "createNamespace",
    "tolerations",
    "resources",
    "nodeSelector",
]
KEYS = st.one_of(st.sampled_from(KNOWN_KEYS), SHELLISH, st.sampled_from([k.upper() for k in KNOWN_KEYS]))

# --- valid configs to start from ------------------------------------------------------------------------------------


def _short(config: dict) -> dict:
    return {key.split(":", 1)[1] if key.startswith("docker-in-workspaces:") else key: v for key, v in config.items()}


BASES: list[dict] = [
    _short(yaml.safe_load(path.read_text())["config"]) for path in sorted(ROOT.glob("Pulumi.*.yaml"))
] + [
    {"workspaces": [{"name": "a", "image": "i"}]},
    {
        "target": "docker",
        "workspaces": [
            {
                "name": "full",
                "strategy": "dind-rootless",
                "image": "img:1",
                "command": ["sleep", "1"],
                "env": {"EDITOR": "vim", "X_TOKEN": "t"},
                "homePath": "/home/me",
                "mtu": 1400,
                "defaultAddressPool": "base=10.1.0.0/16,size=24",
                "daemonReadyTimeout": 30,
            },
            {
                "name": "agent",
                "strategy": "dind-sidecar",
                "image": "img:1",
                "dindImage": "docker:27-dind",
                "daemonSocketGid": 1001,
                "coderAgent": {"url": "https://coder", "token": "tok", "initScript": "run"},
            },
            {
                "name": "built",
                "envbuilder": {"gitUrl": "https://g/r", "initScript": "echo hi", "dockerConfigBase64": "e30="},
            },
        ],
    },
]


def _containers(doc: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every dict and list in `doc` (where a key or item can be added, dropped or replaced)."""
    found = []
    if isinstance(doc, (dict, list)):
        found.append(path)
        items = doc.items() if isinstance(doc, dict) else enumerate(doc)
        for key, value in items:
            found += _containers(value, (*path, key))
    return found


def _at(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated_configs(draw) -> dict:
    config = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        node = _at(config, draw(st.sampled_from(_containers(config))))
        operation = draw(st.sampled_from(["replace", "drop", "add", "rename", "retype"]))
        if isinstance(node, dict):
            if not node or operation == "add":
                node[draw(KEYS)] = draw(VALUES)
                continue
            key = draw(st.sampled_from(sorted(node, key=str)))
            if operation == "drop":
                del node[key]
            elif operation == "rename":
                value = node.pop(key)
                node[draw(st.one_of(st.just(key.upper()), st.just(key.lower()), st.just(key + " "), KEYS))] = value
            elif operation == "retype":
                value = node[key]
                node[key] = draw(st.sampled_from([str(value), [value], {"value": value}, None, 0, True]))
            elif key == "strategy":
                node[key] = draw(STRATEGY_STRINGS)
            elif key == "name":
                node[key] = draw(NAMES)
            else:
                node[key] = draw(VALUES)
        else:
            if not node or operation == "add":
                node.append(copy.deepcopy(node[0]) if node and draw(st.booleans()) else draw(VALUES))
                continue
            index = draw(st.integers(min_value=0, max_value=len(node) - 1))
            if operation == "drop":
                del node[index]
            else:
                node[index] = draw(VALUES)
    return config


# A known top-level key, or an unknown one the program rejects by name (`name: unknown key ...`).
ROOT_PATH = re.compile(
    r"^  ((target|workspaces|kubernetes|allowInsecure|config)\b|([A-Za-z_][\w-]*|\[.*\]): unknown key)"
)


def assert_validates_or_fails_cleanly(config: dict) -> None:
    # Until components/program.py has a kubernetes target, a valid kubernetes config ends in a KeyError
    # (test_program.py's Pulumi.k8s.yaml case shows that); judge only the rest until then.
    assume(config.get("target") != "kubernetes" or "kubernetes" in program.TARGETS)
    try:
        result = run_program(config)
    except pulumi.RunError as error:
        event("invalid stack config")
        message = str(error)
        assert message.startswith("invalid stack config:\n  "), message
        assert ROOT_PATH.match(message.split("\n")[1]), message  # it names a path
        assert "Traceback" not in message
        assert error.registered == [], [r.name for r in error.registered]
        return
    event("deployed")
    # It deployed: every workspace it declares is a component, and they are exported.
    declared = {ws["name"] for ws in config["workspaces"]}
    assert set(result.value["workspaces"]) == declared
    components = {r.name for r in result.resources if r.type.startswith("docker-in-workspaces:index:")}
    assert components == declared


@SETTINGS
@given(config=mutated_configs())
def test_mutated_stack_configs_validate_or_fail_with_one_message(config):
    assert_validates_or_fails_cleanly(config)


@SETTINGS
@given(
    config=st.dictionaries(
        st.one_of(st.sampled_from(["target", "workspaces", "kubernetes", "allowInsecure"]), KEYS), VALUES, max_size=4
    )
)
def test_random_stack_configs_validate_or_fail_with_one_message(config):
    assert_validates_or_fails_cleanly(config)


@FEW
@given(strategy=STRATEGY_STRINGS, name=NAMES, image=SHELLISH)
def test_random_strategies_names_and_images(strategy, name, image):
    assert_validates_or_fails_cleanly({"workspaces": [{"name": name, "strategy": strategy, "image": image}]})


# --- names and env keys with metacharacters: rejected by the config model and the component args -------------------


@SETTINGS
@given(name=NAMES)
@example(name="a;touch pwned")
@example(name="$(id)")
def test_names_with_metacharacters_are_rejected_by_config_and_component(name):
    valid = DNS1123.fullmatch(name) is not None
    try:
        load_stack_config({"workspaces": [{"name": name, "image": "i"}]})
    except ConfigError as error:
        assert not valid and str(error).startswith("invalid stack config:\n  workspaces[0].name: "), str(error)
    else:
        assert valid, name
    try:
        run(lambda: DockerHostWorkspace(name, {"image": "i"}))
    except ValueError as error:
        assert not valid and str(error).startswith("name: "), str(error)
        assert error.registered == []  # type: ignore[attr-defined]
    else:
        assert valid, name


@SETTINGS
@given(key=st.one_of(SHELLISH, st.from_regex(ENV_KEY, fullmatch=True)), value=SHELLISH)
@example(key="A;touch pwned", value="x")
@example(key="$(id)", value="x")
def test_env_keys_with_metacharacters_are_rejected_by_config_and_component(key, value):
    valid = ENV_KEY.fullmatch(key) is not None and not key.startswith(("DIW_", "ENVBUILDER_", "CODER_AGENT_"))
    valid = valid and key != "DOCKER_HOST"
    try:
        load_stack_config({"workspaces": [{"name": "a", "image": "i", "env": {key: value}}]})
    except ConfigError as error:
        assert ENV_KEY.fullmatch(key) is None, str(error)
        assert str(error).startswith("invalid stack config:\n  workspaces[0].env"), str(error)
    else:
        assert ENV_KEY.fullmatch(key) is not None, key
    try:
        result = run(lambda: DockerHostWorkspace("a", {"image": "i", "env": {key: value}}))
    except ValueError as error:
        assert not valid and str(error).startswith((f"env.{key}: ", f"env[{key!r}]: ")), str(error)
        assert error.registered == []  # type: ignore[attr-defined]
    else:
        assert valid, key
        envs = result.one(CONTAINER, "a").inputs["envs"]
        assert f"{key}={value}" in envs  # one argv-style entry, never shell


@pytest.mark.parametrize(
    "args", [{"name": "alice\n"}, {"env": {"FOO\n": "x"}}, {"default_address_pool": "base=10.0.0.0/8,size=24\n"}]
)
def test_component_args_reject_a_trailing_newline(args):
    name = args.pop("name", "alice")
    with pytest.raises(ValueError):
        run(lambda: DockerHostWorkspace(name, {"image": "i", **args}))


def test_a_bad_key_stays_on_its_error_line():
    with pytest.raises(ConfigError) as error:
        load_stack_config({"workspaces": [{"name": "a", "image": "i", "env": {"FOO\nBAR": "x"}}]})
    assert len(str(error.value).splitlines()) == 2, str(error.value)


@FEW
@given(image=SHELLISH.filter(lambda s: s.strip()), command=st.lists(SHELLISH, min_size=1, max_size=3))
def test_images_and_commands_are_data_not_shell(image, command):
    assume(all(part.strip() for part in command))
    args = {"image": image, "command": command, "strategy": Strategy.DIND}
    if "allow_insecure" in DockerHostWorkspaceArgs.__annotations__:
        args["allow_insecure"] = True  # dind is "low": acknowledged, so this test is about the values only
    result = run(lambda: DockerHostWorkspace("a", args))
    assert result.one("docker:index/remoteImage:RemoteImage").inputs["name"] == image
    container = result.one(CONTAINER, "a").inputs
    assert container["command"] == command  # argv after the start script, exactly as given


# --- the Envbuilder init script, executed for real ------------------------------------------------------------------

FAKE_DAEMON = """\
#!/bin/sh
# Records its argv NUL-separated (complete, then renamed into place), then exits.
printf '%s\\0' "$@" > "$FAKE_DIR/.args.$$"
mv "$FAKE_DIR/.args.$$" "$FAKE_DIR/$(basename "$0").args"
"""
FAKE_DOCKER = """\
#!/bin/sh
# `docker info`: a sidecar's daemon (wait mode) is ready at once; our own once the fake daemon has run
# (polled here for up to 2 s, so the start script never needs its 1 s retry).
[ "$1" = info ] || exit 1
[ "${DIW_DOCKERD_MODE:-}" = wait ] && [ -e "$FAKE_DIR/ready" ] && exit 0
i=0
while [ "$i" -lt 200 ]; do
  for f in "$FAKE_DIR"/*.args; do [ -e "$f" ] && exit 0; done
  sleep 0.01
  i=$((i + 1))
done
exit 1
"""
ROOTLESS_TOOLS = ("rootlesskit", "newuidmap", "newgidmap", "slirp4netns", "ip")
RECORDER = 'cat /proc/$$/cmdline > "$FAKE_DIR/workload.argv"; exit 0\n'
"""The workload's first line: it records its own argv (`/bin/sh -c <text>`) and ends before any payload line."""


class Sandbox:
    """A directory with a fake dockerd/docker on PATH; a marker file shows whether injected shell ran."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="diw-hostile-"))
        bin_dir = self.dir / "bin"
        bin_dir.mkdir()
        tools = {"dockerd": FAKE_DAEMON, "dockerd-rootless.sh": FAKE_DAEMON, "docker": FAKE_DOCKER}
        # What rootless mode checks for besides its launcher: do-nothing fakes.
        tools.update({name: "#!/bin/sh\nexit 0\n" for name in ROOTLESS_TOOLS})
        for name, body in tools.items():
            (bin_dir / name).write_text(body)
            (bin_dir / name).chmod(0o755)
        (self.dir / "subuid").write_text(f"{pwd.getpwuid(os.getuid()).pw_name}:100000:65536\n")
        (self.dir / "ready").touch()  # a sidecar's daemon is "ready" at once: each run takes milliseconds
        # dood (mode none) checks that the host's socket is there and usable: a listening one.
        (self.dir / "xdg").mkdir()
        self.host_socket = socket.socket(socket.AF_UNIX)
        self.host_socket.bind(str(self.dir / "xdg" / "docker.sock"))
        self.pwned = self.dir / "pwned"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.dir / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.dir),
            "FAKE_DIR": str(self.dir),
            "XDG_RUNTIME_DIR": str(self.dir / "xdg"),
            "DOCKER_HOST": f"unix://{self.dir}/xdg/docker.sock",
            "DIW_DOCKERD_LOG": str(self.dir / "dockerd.log"),
            "DIW_DOCKERD_MTU_FROM": "lo",
            "DIW_SUBUID_FILE": str(self.dir / "subuid"),
            **extra,
        }

    def dockerd_args(self, name: str = "dockerd-rootless.sh") -> list[str] | None:
        path = self.dir / f"{name}.args"
        if not path.exists():
            return None
        return path.read_bytes().decode().split("\0")[:-1]

    def cleanup(self) -> None:
        self.host_socket.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_init_script(box: Sandbox, script: str) -> subprocess.CompletedProcess:
    """As Envbuilder runs ENVBUILDER_INIT_SCRIPT: `/bin/sh -c <script>`.

    The script writes the start script to a fixed path under /tmp; it is pointed into the sandbox
    (the only change to the generated text) so parallel runs cannot race on one file.
    """
    assert script.count(_INLINE_SCRIPT) == 2
    script = script.replace(_INLINE_SCRIPT, str(box.dir / "start-docker.sh"))
    return subprocess.run(["/bin/sh", "-c", script], env=box.env(), cwd=box.dir, capture_output=True, timeout=30)


def workload_text(payload: str, box: Sandbox) -> str:
    return RECORDER + payload.replace("{pwned}", str(box.pwned))


def rootless_knobs(box: Sandbox) -> dict[str, str]:
    # Rootless: no root-only side effects at all; everything stays inside the sandbox.
    return {"DIW_DOCKERD_MODE": "rootless", "DIW_DOCKERD_DATA_ROOT": str(box.dir / "data"), "DIW_DOCKERD_TIMEOUT": "5"}


def assert_workload_got_exactly(box: Sandbox, result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    recorded = (box.dir / "workload.argv").read_bytes()
    assert recorded == b"/bin/sh\0-c\0" + text.encode() + b"\0"
    assert not box.pwned.exists(), "injected shell ran"


def test_the_sandbox_sees_an_injection():
    """Control: naive quoting of the same payload does run the injected command."""
    box = Sandbox()
    try:
        text = workload_text(INJECTIONS[0], box)
        subprocess.run(["/bin/sh", "-c", f"/bin/sh -c '{text}'"], env=box.env(), cwd=box.dir, timeout=30)
        assert box.pwned.exists()
    finally:
        box.cleanup()


@pytest.mark.parametrize("payload", INJECTIONS)
def test_init_script_runs_the_workload_text_exactly(payload):
    box = Sandbox()
    try:
        text = workload_text(payload, box)
        result = run_init_script(box, envbuilder_init_script(rootless_knobs(box), text))
        assert_workload_got_exactly(box, result, text)
        assert box.dockerd_args() is not None  # the daemon was started before the workload
    finally:
        box.cleanup()


@FEW
@given(payload=SHELLISH, injection=st.sampled_from(INJECTIONS))
def test_init_script_with_random_workload_text(payload, injection):
    box = Sandbox()
    try:
        text = workload_text(payload + injection + payload, box)
        result = run_init_script(box, envbuilder_init_script(rootless_knobs(box), text))
        assert_workload_got_exactly(box, result, text)
    finally:
        box.cleanup()


@pytest.mark.skipif(os.geteuid() != 0, reason="the registered script starts a rootful (fake) dockerd: run as root")
@pytest.mark.parametrize("payload", INJECTIONS[:4] + INJECTIONS[5:6])
def test_component_init_script_end_to_end(payload):
    """The ENVBUILDER_INIT_SCRIPT a DockerHostWorkspace registers, run as Envbuilder would."""
    box = Sandbox()
    try:
        text = workload_text(payload, box)
        home = str(box.dir / "home")
        result = run(
            lambda: DockerHostWorkspace(
                "a",
                {
                    "strategy": Strategy.SYSBOX,
                    "home_path": home,
                    "envbuilder": {"git_url": "https://example.com/r", "init_script": text},
                },
            )
        )
        envs = dict(e.split("=", 1) for e in result.one(CONTAINER, "a").inputs["envs"])
        run_result = run_init_script(box, envs["ENVBUILDER_INIT_SCRIPT"])
        assert_workload_got_exactly(box, run_result, text)
        assert "--data-root=/var/lib/docker" in (box.dockerd_args("dockerd") or [])
    finally:
        box.cleanup()


@FEW
@given(value=SHELLISH.filter(lambda s: "/" not in s))
@example(value="$(touch {pwned})")
@example(value="x; touch {pwned}")
@example(value="`touch {pwned}`")
@example(value="a\nb")
def test_init_script_knob_values_stay_single_arguments(value):
    box = Sandbox()
    try:
        value = value.replace("{pwned}", str(box.pwned))
        data_root = f"{box.dir}/data-{value}"  # inside the sandbox whatever the value
        pool = f"base=10.0.0.0/8,size=24{value}"
        knobs = {**rootless_knobs(box), "DIW_DOCKERD_DATA_ROOT": data_root, "DIW_DOCKERD_ADDRESS_POOL": pool}
        text = RECORDER
        result = run_init_script(box, envbuilder_init_script(knobs, text))
        assert not box.pwned.exists()
        if result.returncode == 0:
            assert_workload_got_exactly(box, result, text)
            args = box.dockerd_args()
            assert f"--data-root={data_root}" in args and f"--default-address-pool={pool}" in args
        else:
            assert result.returncode == 2 and b"start-docker:" in result.stderr  # rejected, with a reason
            assert box.dockerd_args() is None
    finally:
        box.cleanup()


# --- the start script's knobs, directly -----------------------------------------------------------------------------


def run_start_script(box: Sandbox, **knobs: str) -> subprocess.CompletedProcess:
    script = box.dir / "start-docker.sh"
    script.write_text(start_script())
    return subprocess.run(
        ["/bin/sh", str(script), "/bin/sh", "-c", RECORDER],
        env=box.env(**knobs),
        cwd=box.dir,
        capture_output=True,
        timeout=30,
    )


KNOB_VALUES = st.one_of(SHELLISH, st.sampled_from(INJECTIONS), st.from_regex(r"[0-9]{1,5}", fullmatch=True))


@SETTINGS
@given(
    # Not rootful (nor "", its default): as root that path removes the host's /var/run/docker.pid.
    mode=(st.sampled_from(["rootless", "wait", "none"]) | KNOB_VALUES).filter(lambda m: m not in ("", "rootful")),
    mtu=KNOB_VALUES,
    group=KNOB_VALUES,
    timeout=KNOB_VALUES,
    data=KNOB_VALUES.filter(lambda s: "/" not in s),
    pool=KNOB_VALUES,
)
def test_start_script_knobs_are_single_dockerd_arguments_or_rejected(mode, mtu, group, timeout, data, pool):
    box = Sandbox()
    try:

        def sub(value: str) -> str:
            return value.replace("{pwned}", str(box.pwned))

        mode, mtu, group, timeout, data, pool = map(sub, (mode, mtu, group, timeout, data, pool))
        data_root = f"{box.dir}/data-{data}"
        result = run_start_script(
            box,
            DIW_DOCKERD_MODE=mode,
            DIW_DOCKERD_MTU=mtu,
            DIW_DOCKERD_GROUP=group,
            DIW_DOCKERD_TIMEOUT=timeout,
            DIW_DOCKERD_DATA_ROOT=data_root,
            DIW_DOCKERD_ADDRESS_POOL=pool,
        )
        assert not box.pwned.exists(), "injected shell ran"
        stderr = result.stderr.decode(errors="replace")
        event("rejected" if result.returncode else f"ran ({mode})")
        if result.returncode != 0:
            assert result.returncode == 2 and "start-docker:" in stderr, (result.returncode, stderr)
            assert box.dockerd_args() is None  # rejected before dockerd started
            return
        assert (box.dir / "workload.argv").read_bytes() == b"/bin/sh\0-c\0" + RECORDER.encode() + b"\0"
        args = box.dockerd_args()
        if mode in ("wait", "none"):
            assert args is None
            return
        assert mode == "rootless"
        expected = [f"--host=unix://{box.dir}/xdg/docker.sock", f"--data-root={data_root}"]
        if mtu:
            expected.append(f"--mtu={mtu}")
        else:
            expected.append(f"--mtu={Path('/sys/class/net/lo/mtu').read_text().strip()}")
        if pool:
            expected.append(f"--default-address-pool={pool}")
        assert args == expected  # each value one argument, exactly as given
        assert mtu == "" or mtu.isdigit()
        assert re.fullmatch(r"[0-9]*", group) and (timeout == "" or timeout.isdigit())
    finally:
        box.cleanup()


@SETTINGS
@given(data=KNOB_VALUES.filter(lambda s: "/" not in s), pool=KNOB_VALUES, mtu=st.sampled_from(["", "1400", "65535"]))
@example(data="$(touch {pwned})", pool="base=10.0.0.0/8,size=24; touch {pwned}", mtu="")
@example(data="x\n--debug", pool="`touch {pwned}`", mtu="1400")
def test_start_script_passes_path_and_pool_values_as_single_arguments(data, pool, mtu):
    box = Sandbox()
    try:
        data_root = f"{box.dir}/data-{data.replace('{pwned}', str(box.pwned))}"
        pool = pool.replace("{pwned}", str(box.pwned))
        result = run_start_script(
            box,
            DIW_DOCKERD_MODE="rootless",
            DIW_DOCKERD_MTU=mtu,
            DIW_DOCKERD_DATA_ROOT=data_root,
            DIW_DOCKERD_ADDRESS_POOL=pool,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        assert not box.pwned.exists(), "injected shell ran"
        assert (box.dir / "workload.argv").read_bytes() == b"/bin/sh\0-c\0" + RECORDER.encode() + b"\0"
        args = box.dockerd_args()
        assert args[:2] == [f"--host=unix://{box.dir}/xdg/docker.sock", f"--data-root={data_root}"]
        assert args[-1] == f"--default-address-pool={pool}" if pool else args[-1].startswith("--mtu=")
        assert len(args) == 3 + bool(pool)
    finally:
        box.cleanup()
