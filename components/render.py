"""Render a stack without the Pulumi CLI, credentials or a cluster: `python -m components render STACK --out DIR`.

The stack's program runs under the Pulumi SDK's mocks (the engine records every
resource with its inputs instead of creating it), with the config of
`Pulumi.<STACK>.yaml` handed to it the way `pulumi` does. What would be created is
written as reviewable files:

- Kubernetes objects: one YAML file per object, laid out and named like
  pulumi-kubernetes' `renderYamlToDirectory` (`1-manifest/<apiVersion>-<kind>-<namespace>-<name>.yaml`,
  `/` and `:` in the apiVersion as `_`, `default` for cluster-scoped objects, CRDs in `0-crd/`).
- Docker-host containers and volumes: one compose file, `docker-compose.yaml`, with the
  start script inline in the entrypoints (written once, then YAML aliases) and uploaded (secret) files as
  compose `configs:` with inline content.
- `security-report.md`: per workspace its strategy and the levels computed from its plan.

Output is deterministic (sorted keys, sorted files, no timestamps). Secrets are never
written: every value the program marked secret, and every `secure:` value of the stack
file (which is never decrypted), is the placeholder `[secret]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import yaml

from .compose import CONTAINER, VOLUME, compose_document
from .documents import PLACEHOLDER, dump_yaml, ints, redact
from .recording import Recorded, provider_outputs, unwrap_secrets
from .recording import record as record_program

CRD_DIR = "0-crd"
MANIFEST_DIR = "1-manifest"
COMPOSE_FILE = "docker-compose.yaml"
REPORT_FILE = "security-report.md"
OUTPUT_NAMES = frozenset({CRD_DIR, MANIFEST_DIR, COMPOSE_FILE, REPORT_FILE, "start-docker.sh"})
"""Everything the renderer may write at the top of --out; it replaces these and refuses to touch anything else."""

REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"


class RenderError(Exception):
    """A problem the user fixes (bad stack config, missing stack file): one message, exit code 2."""


# --- recording the program's resources under mocks -------------------------------------------------------------


class _Mocks(pulumi.runtime.Mocks):
    """Outputs echo inputs; the id is the logical name, an image's id is its reference (readable, stable)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = {**args.inputs, **provider_outputs(args.typ, args.inputs)}
        if args.typ == REMOTE_IMAGE:
            outputs["imageId"] = args.inputs.get("name")
        return args.name, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], Optional[list[tuple[str, str]]]]:
        return {}, []


# --- the stack's config, the way `pulumi` hands it to the program --------------------------------------------------


@dataclass
class Project:
    directory: Path
    name: str
    main: Path
    config_defaults: dict[str, Any] = field(default_factory=dict)


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""safe_load's classes with libyaml's parser when PyYAML has it: a 1000-workspace stack file reads in a tenth."""


def load_project(directory: Path) -> Project:
    path = directory / "Pulumi.yaml"
    if not path.is_file():
        raise RenderError(f"no Pulumi.yaml in {directory}; run from the project directory or pass --project-dir")
    document = yaml.load(path.read_text(), Loader=_Loader) or {}
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise RenderError(f"{path}: no project name")
    main = directory / str(document.get("main") or ".")
    if main.is_dir():
        main = main / "__main__.py"
    defaults: dict[str, Any] = {}
    for key, spec in (document.get("config") or {}).items():
        full = key if ":" in key else f"{name}:{key}"
        if isinstance(spec, dict):
            if "default" in spec:
                defaults[full] = spec["default"]
            elif "value" in spec:
                defaults[full] = spec["value"]
        else:
            defaults[full] = spec
    return Project(directory=directory, name=name, main=main, config_defaults=defaults)


def _no_ciphertext(value: Any) -> tuple[Any, bool]:
    """`secure:` values become the placeholder (never decrypted: no passphrase here); True if any was found."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return PLACEHOLDER, True
        found = False
        out = {}
        for key, item in value.items():
            out[key], inner = _no_ciphertext(item)
            found |= inner
        return out, found
    if isinstance(value, list):
        pairs = [_no_ciphertext(item) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


def load_stack_config(project: Project, stack: str) -> tuple[dict[str, str], list[str]]:
    """Engine config (namespaced keys, objects as JSON strings) and its secret keys."""
    path = project.directory / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        found = sorted(p.name for p in project.directory.glob("Pulumi.*.yaml"))
        raise RenderError(f"no stack file {path.name} in {project.directory} (found: {', '.join(found) or 'none'})")
    try:
        document = yaml.load(path.read_text(), Loader=_Loader) or {}
    except yaml.YAMLError as exc:
        raise RenderError(f"{path.name}: not valid YAML: {exc}") from None
    merged = dict(project.config_defaults)
    for key, value in (document.get("config") or {}).items():
        merged[key if ":" in key else f"{project.name}:{key}"] = value
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in merged.items():
        value, secret = _no_ciphertext(value)
        if secret:
            secret_keys.append(key)
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config, sorted(secret_keys)


# --- running the program ----------------------------------------------------------------------------------------


@dataclass
class WorkspaceSecurity:
    name: str
    target: str
    strategy: str
    security_level: str
    pod_security_level: str
    privileged: list[str]
    """Roles of the privileged containers."""
    host_sockets: list[str]
    """Host paths mounted into the workspace's containers."""
    running: bool
    namespace: Optional[str] = None


@dataclass
class Rendered:
    stack: str
    records: list[Recorded]
    security: list[WorkspaceSecurity]


@contextlib.contextmanager
def _program_environment(directory: Path) -> Iterator[None]:
    """What the Python language host gives a program: its directory as cwd and on sys.path; no outside config."""
    saved_cwd, saved_path = os.getcwd(), list(sys.path)
    saved_env = {k: os.environ.pop(k) for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS") if k in os.environ}
    os.chdir(directory)
    sys.path.insert(0, str(directory))
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        os.environ.update(saved_env)


COMPONENT_TARGETS = {
    "docker-in-workspaces:index:DockerHostWorkspace": "docker",
    "docker-in-workspaces:index:KubernetesWorkspace": "kubernetes",
}


def security_of(records: list[Recorded], outputs: dict[str, dict[str, Any]]) -> list[WorkspaceSecurity]:
    """Per workspace component the program registered, from the outputs it registered (computed from its plan):
    any program that uses the components gets its report, not only this project's."""
    report = []
    for record in records:
        target = COMPONENT_TARGETS.get(record.type)
        if target is None:
            continue
        registered = unwrap_secrets(outputs.get(record.urn, {}))
        report.append(
            WorkspaceSecurity(
                name=record.name,
                target=target,
                strategy=str(registered.get("strategy", "?")),
                security_level=str(registered.get("security_level", "?")),
                pod_security_level=str(registered.get("pod_security_level", "?")),
                privileged=list(registered.get("privileged_containers") or []),
                host_sockets=list(registered.get("host_sockets") or []),
                running=bool(registered.get("running", True)),
                namespace=registered.get("namespace"),
            )
        )
    return report


def run_stack(stack: str, project_dir: Path) -> Rendered:
    """Run the project's program for `stack` under mocks. Raises RenderError for a bad stack config."""
    project = load_project(project_dir.resolve())
    config, secret_keys = load_stack_config(project, stack)
    if not project.main.is_file():
        raise RenderError(f"the program {project.main} does not exist")

    def program() -> None:
        pulumi.runtime.set_all_config(config, secret_keys)
        runpy.run_path(str(project.main), run_name="__main__")

    with _program_environment(project.directory):
        try:
            recording = record_program(program, _Mocks(), project=project.name, stack=stack)
        except pulumi.RunError as exc:
            raise RenderError(f"error: {exc}") from None
        except ValueError as exc:  # ConfigError and argument errors the program did not turn into RunError
            if "invalid stack config" not in str(exc):
                raise
            raise RenderError(f"error: {exc}") from None
    return Rendered(stack=stack, records=recording.records, security=security_of(recording.records, recording.outputs))


# --- Kubernetes ---------------------------------------------------------------------------------------------------


def manifest_path(body: dict[str, Any]) -> str:
    """Where pulumi-kubernetes' renderYamlToDirectory writes the object (provider.go, renderPathForResource)."""
    api_version = str(body["apiVersion"]).replace("/", "_").replace(":", "_")
    metadata = body.get("metadata") or {}
    namespace = metadata.get("namespace") or "default"
    directory = CRD_DIR if body["kind"] == "CustomResourceDefinition" else MANIFEST_DIR
    return f"{directory}/{api_version}-{str(body['kind']).lower()}-{namespace}-{metadata.get('name')}.yaml"


def kubernetes_manifests(records: list[Recorded]) -> dict[str, str]:
    files: dict[str, str] = {}
    for record in records:
        if not (record.custom and record.type.startswith("kubernetes:")):
            continue
        body = ints(redact(record.raw_inputs))
        if not body.get("apiVersion") or not body.get("kind"):
            continue  # not an object (e.g. a Helm release or a YAML group component)
        path = manifest_path(body)
        if path in files:
            raise RenderError(f"two Kubernetes objects render to {path}")
        files[path] = dump_yaml(body)
    return files


def _compose_header(stack: str, rendered: Rendered) -> str:
    lines = [
        f"# What `pulumi up -s {stack}` creates on the Docker host, rendered by `python -m components render {stack}`.",
        f"# Secrets show as {PLACEHOLDER}; `$$` is compose's escape for a literal `$`. Uploaded files are `configs:`",
        "# with inline content. The start script is inline in entrypoints: written once (&id001), aliased after.",
        "# x-retain-on-delete: the volume outlives `pulumi destroy`.",
    ]
    stopped = sorted(ws.name for ws in rendered.security if not ws.running)
    if stopped:
        lines.append(f"# Stopped (running: false; volumes kept, no containers): {', '.join(stopped)}.")
    return "\n".join(lines) + "\n"


# --- security report ----------------------------------------------------------------------------------------------


def security_report(stack: str, security: list[WorkspaceSecurity]) -> str:
    lines = [
        f"# Security report: stack `{stack}`",
        "",
        "Computed from each workspace's plan (the containers the components build), not from strategy names.",
        "Security level: `none` (host socket: root on the host) < `low` (privileged, root) < `medium` (privileged,",
        "unprivileged user; or unprivileged with a confinement turned off: seccomp or AppArmor unconfined, /proc",
        "unmasked, capabilities added) < `high` (no privileged container, no host socket, every confinement on).",
        "Pod Security level: the least Pod Security Standard that admits the workspace's pod.",
        "",
        "| workspace | target | strategy | security level | Pod Security level | privileged | host socket | running |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for ws in sorted(security, key=lambda w: w.name):
        privileged = f"yes ({', '.join(ws.privileged)})" if ws.privileged else "no"
        sockets = f"yes ({', '.join(f'`{s}`' for s in ws.host_sockets)})" if ws.host_sockets else "no"
        lines.append(
            f"| {ws.name} | {ws.target} | `{ws.strategy}` | **{ws.security_level}** | {ws.pod_security_level} "
            f"| {privileged} | {sockets} | {'yes' if ws.running else 'no'} |"
        )
    if not security:
        lines.append("| (no workspaces of this project) | | | | | | | |")
    return "\n".join(lines) + "\n"


# --- writing ------------------------------------------------------------------------------------------------------


def render_files(rendered: Rendered, project: str) -> dict[str, str]:
    """Relative path -> text of every file the stack renders to."""
    files = kubernetes_manifests(rendered.records)
    if any(r.type in (CONTAINER, VOLUME) for r in rendered.records):
        compose, extra = compose_document(rendered.stack, rendered.records, project)
        files[COMPOSE_FILE] = _compose_header(rendered.stack, rendered) + compose
        files.update(extra)
    files[REPORT_FILE] = security_report(rendered.stack, rendered.security)
    return dict(sorted(files.items()))


def write_files(files: dict[str, str], out: Path) -> None:
    unknown_top = {path.split("/", 1)[0] for path in files} - OUTPUT_NAMES
    if unknown_top:
        raise RenderError(f"internal: unexpected output names {sorted(unknown_top)}")  # pragma: no cover
    if out.exists():
        if not out.is_dir():
            raise RenderError(f"--out {out} is a file; give a directory")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_NAMES)
        if foreign:
            raise RenderError(
                f"refusing to render into {out}: it holds files the renderer did not write ({', '.join(foreign[:5])}); "
                "use a new or empty directory"
            )
        for name in sorted(OUTPUT_NAMES):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")


def render(stack: str, out: Path, project_dir: Path = Path(".")) -> list[str]:
    """Render `stack` into `out`; returns the relative paths written."""
    rendered = run_stack(stack, project_dir)
    files = render_files(rendered, load_project(project_dir.resolve()).name)
    write_files(files, out)
    return list(files)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m components",
        description="Render a stack's Kubernetes manifests, compose file and security report without the Pulumi CLI.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    render_cmd = commands.add_parser("render", help="render STACK (from Pulumi.STACK.yaml) into --out")
    render_cmd.add_argument("stack", help="stack name: reads Pulumi.<stack>.yaml")
    render_cmd.add_argument("--out", required=True, type=Path, help="output directory (replaced files only)")
    render_cmd.add_argument(
        "--project-dir", type=Path, default=Path("."), help="directory of Pulumi.yaml (default: the current one)"
    )
    args = parser.parse_args(argv)
    from .program import tune_gc

    tune_gc()  # the program's objects live until the files are written: see tune_gc
    try:
        written = render(args.stack, args.out, args.project_dir)
    except RenderError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"rendered stack {args.stack} into {args.out}: {len(written)} files")
    return 0
