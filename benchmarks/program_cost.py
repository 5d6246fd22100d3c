"""The program's own cost on big stacks, next to the SDK's floor, measured side by side in one run.

For a generated stack of N workspaces (the five strategies in turn), each sample is a fresh
interpreter (benchmarks/program_run.py; wall time including interpreter start and imports,
and its peak RSS):

- `bare`: the same resources (each workspace's component and children) with minimal inputs
  (names only), registered directly through the SDK;
- `literal`: the same resources with the exact inputs, resource options, component outputs
  and stack exports the program declares, written out literally as SDK calls (a generated
  program that imports no project code, at the SDK's default settings): the baseline;
- `program`: the stack program (`__main__.py` with the stack's config);
- `render`: `python -m components render` of the same stack (program, files, report).

Modes are interleaved within each repeat (bare, literal, program, render, then again), so a
slow spell on the shared machine hits them alike; min and median of the repeats are shown.
The literal program is generated from a recording of a small stack of the same shape and
checked against it (same resources, inputs, options, outputs) before anything is timed.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [p for p in (str(ROOT), str(ROOT / "tests")) if p not in sys.path]
RUNNER = Path(__file__).resolve().parent / "program_run.py"
STRATEGIES = ("dood", "dind", "dind-sidecar", "dind-rootless", "sysbox")
IMAGE = "codercom/enterprise-base:ubuntu"
STACK = "big"
TOKEN = "zq9x"
"""Workspace-name prefix of the template stack; every string holding it is templated on the name."""
MODES = ("bare", "literal", "program", "render")

Row = tuple[str, str, str, str]


# --- the generated stack --------------------------------------------------------------------------------------


def stack_config(target: str, count: int, prefix: str = "ws") -> dict[str, Any]:
    config: dict[str, Any] = {
        "docker-in-workspaces:target": target,
        "docker-in-workspaces:allowInsecure": True,
        "docker-in-workspaces:workspaces": [
            {"name": f"{prefix}{i:04d}", "strategy": STRATEGIES[i % len(STRATEGIES)], "image": IMAGE}
            | ({"dockerSocketGid": 999} if i % len(STRATEGIES) == 0 else {})
            for i in range(count)
        ],
    }
    if target == "kubernetes":
        config["docker-in-workspaces:kubernetes"] = {"namespace": "workspaces", "createNamespace": True}
    return config


def write_project(directory: Path, target: str, count: int, prefix: str = "ws", main: Path = ROOT) -> Path:
    """A project directory whose program is the one in `main` (this repository's), with stack `big` of `count`
    workspaces."""
    project = yaml.safe_load((main / "Pulumi.yaml").read_text())
    project["main"] = str(main)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project))
    (directory / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump({"config": stack_config(target, count, prefix)}))
    return directory


def engine_config(directory: Path) -> dict[str, str]:
    """The config `pulumi` would hand the program (the renderer's reading of it)."""
    from components.render import load_project, load_stack_config

    config, _ = load_stack_config(load_project(directory), STACK)
    return config


# --- the literal program, generated from a recording ----------------------------------------------------------


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _class_path(token: str) -> str:
    """`docker:index/container:Container` -> `pulumi_docker.Container`; kubernetes by group and version."""
    package, module, name = token.split(":")
    if package == "docker":
        return f"pulumi_docker.{name}"
    if package == "kubernetes":
        group, version = module.split("/")
        return f"pulumi_kubernetes.{group.split('.')[0]}.{version}.{name}"
    raise ValueError(f"no literal form for {token}")


class _Emitter:
    """Python source for recorded values; strings holding the template name become `n`-expressions."""

    def __init__(self) -> None:
        self.constants: dict[str, str] = {}

    def value(self, value: Any, name: str) -> str:
        from components.recording import is_secret

        if is_secret(value):
            return f"pulumi.Output.secret({self.value(value['value'], name)})"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.value(k, name)}: {self.value(v, name)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.value(v, name) for v in value) + "]"
        if isinstance(value, str):
            if name and name in value:
                parts = value.split(name)
                terms = [t for i, part in enumerate(parts) for t in ([repr(part)] if part else []) + ["n"]][:-1]
                return terms[0] if len(terms) == 1 else "(" + " + ".join(terms) + ")"
            if len(value) > 120:  # the start script: one module constant, as a hand-written program would have
                return self.constants.setdefault(value, f"TEXT{len(self.constants)}")
            return repr(value)
        return repr(value)


def literal_program(template: Any, target: str, names: list[tuple[str, str]], bare: bool) -> str:
    """Source of a program registering, per (name, strategy), what the template's workspace of that strategy
    registered: literal SDK calls, no project code. `bare`: names only, no other inputs, options or outputs."""
    emit = _Emitter()
    records = template.resources
    urns = {r.urn: r for r in records}
    components = [r for r in records if r.type.startswith("docker-in-workspaces:")]
    owner_of: dict[str, str] = {}
    for record in records:
        parent = record.parent
        while parent in urns and not urns[parent].type.startswith("docker-in-workspaces:"):
            parent = urns[parent].parent
        owner_of[record.urn] = parent if parent in urns else record.urn if record in components else ""
    shared = [r for r in records if not owner_of[r.urn]]
    var = {r.urn: f"r{i}" for i, r in enumerate(records)}
    lines: list[str] = []

    def register(record: Any, indent: str, name: str) -> None:
        options = []
        if record.parent in var:
            options.append(f"parent={var[record.parent]}")
        if not bare:
            if record.dependencies:
                options.append(f"depends_on=[{', '.join(var[d] for d in record.dependencies)}]")
            if record.retain_on_delete:
                options.append("retain_on_delete=True")
            if record.delete_before_replace:
                options.append("delete_before_replace=True")
        opts = f"pulumi.ResourceOptions({', '.join(options)})" if options else "None"
        target_name = emit.value(record.name, name)
        if not record.custom:
            lines.append(
                f"{indent}{var[record.urn]} = pulumi.ComponentResource({record.type!r}, {target_name}, None, {opts})"
            )
            outputs = template.outputs.get(record.urn)
            if outputs and not bare:
                lines.append(f"{indent}{var[record.urn]}.register_outputs({emit.value(outputs, name)})")
            elif bare:
                lines.append(f"{indent}{var[record.urn]}.register_outputs({{}})")
            return
        inputs = dict(record.raw_inputs)
        if record.type.startswith("kubernetes:"):
            inputs.pop("apiVersion", None)
            inputs.pop("kind", None)
        if bare:
            inputs = {k: v for k, v in inputs.items() if k in ("name", "image")}  # names and required inputs
            if record.type.startswith("kubernetes:") and "metadata" in record.raw_inputs:
                inputs = {"metadata": {"name": record.raw_inputs["metadata"].get("name")}}
                if "namespace" in record.raw_inputs["metadata"]:
                    inputs["metadata"]["namespace"] = record.raw_inputs["metadata"]["namespace"]
        kwargs = "".join(f", {_snake(k)}={emit.value(v, name)}" for k, v in inputs.items())
        lines.append(f"{indent}{var[record.urn]} = {_class_path(record.type)}({target_name}, {opts}{kwargs})")

    for record in shared:
        register(record, "", "")
    stack_exports = template.value["workspaces"]
    strategies_seen = []
    for component in components:
        strategy = str(stack_exports[component.name]["strategy"])
        strategies_seen.append(strategy)
        lines.append(f"\n\ndef workspace_{strategy.replace('-', '_')}(n):")
        for record in records:
            if owner_of[record.urn] == component.urn:
                register(record, "    ", component.name)
        export = {} if bare else stack_exports[component.name]
        lines.append(f"    return {emit.value(export, component.name)}")
    lines.append("\n\nWORKSPACES = {}")
    for strategy in strategies_seen:
        lines.append(f"WORKSPACES[{strategy!r}] = workspace_{strategy.replace('-', '_')}")
    lines.append(f"NAMES = {names!r}")
    lines.append("exports = {name: WORKSPACES[strategy](name) for name, strategy in NAMES}")
    lines.append(f"pulumi.export('target', {target!r})")
    lines.append("pulumi.export('workspaces', exports)")
    header = ['"""Generated by benchmarks/program_cost.py: literal SDK calls, no project code."""', "", "import pulumi"]
    header.append("import pulumi_docker" if target == "docker" else "import pulumi_kubernetes")
    header += [f"{const} = {text!r}" for text, const in emit.constants.items()]
    return "\n".join(header) + "\n" + "\n".join(lines) + "\n"


def template_run(directory: Path, target: str) -> Any:
    """The program's recording for one workspace per strategy, named with TOKEN."""
    from stacks import run_program

    config = stack_config(target, len(STRATEGIES), prefix=TOKEN)
    return run_program({k.split(":", 1)[1]: v for k, v in config.items()})


def _comparable(recording: Any) -> Any:
    records = [
        (
            r.type,
            r.name,
            r.raw_inputs,
            r.parent,
            r.custom,
            r.retain_on_delete,
            r.delete_before_replace,
            sorted(r.dependencies),
            r.provider,
        )
        for r in recording.resources
    ]
    return sorted(records, key=repr), recording.outputs, recording.value


def check_literal(template: Any, source: str, directory: Path) -> None:
    """The literal program registers exactly what the program did (else its ratio would mean nothing)."""
    from harness import run

    path = directory / "literal_check.py"
    path.write_text(source)

    def program() -> Any:
        runpy.run_path(str(path), run_name="__main__")
        return pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]

    literal = run(program)
    expected, got = _comparable(template), _comparable(literal)
    if expected != got:
        for want, have in zip(expected[0], got[0], strict=False):
            if want != have:
                raise SystemExit(
                    "the literal baseline differs from the program:\n"
                    f"  program: {want!r:.2000}\n  literal: {have!r:.2000}"
                )
        raise SystemExit("the literal baseline differs from the program (outputs or resource count)")


# --- timing ---------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    max_rss_mib: float
    resources: int


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Sample:
    """Wall time and peak RSS of one fresh interpreter."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{stdout}\n{stderr[-3000:]}")
    resources = 0
    for line in stdout.splitlines():
        if line.startswith("{"):
            resources = int(json.loads(line)["resources"])
    return Sample(seconds, usage.ru_maxrss / 1024, resources)


def file_count(directory: Path) -> int:
    """How many files a render wrote under `directory`."""
    return sum(1 for p in directory.rglob("*") if p.is_file())


def _stats(samples: list[Sample]) -> tuple[float, float, float, int]:
    seconds = [s.seconds for s in samples]
    return min(seconds), statistics.median(seconds), max(s.max_rss_mib for s in samples), samples[0].resources


def program_benchmarks(count: int, repeat: int, render_count: int, render_repeat: int) -> list[Row]:
    """Docker target: bare, literal, program and render of `count` workspaces, interleaved; then the render of a
    `render_count`-workspace Kubernetes stack."""
    python = sys.executable
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="diw-bench-") as tmp:
        work = Path(tmp)
        template = template_run(work, "docker")
        names = [
            (ws["name"], ws["strategy"]) for ws in stack_config("docker", count)["docker-in-workspaces:workspaces"]
        ]
        check_literal(
            template,
            literal_program(template, "docker", [(f"{TOKEN}{i:04d}", s) for i, s in enumerate(STRATEGIES)], bare=False),
            work,
        )
        for mode, bare in (("literal", False), ("bare", True)):
            (work / f"{mode}.py").write_text(literal_program(template, "docker", names, bare))
        project = write_project(work / "docker", "docker", count)
        config_file = work / "docker.json"
        config_file.write_text(json.dumps(engine_config(project)))
        empty = work / "empty.json"
        empty.write_text("{}")
        project_name = "docker-in-workspaces"
        commands: dict[str, list[str]] = {
            "bare": [python, str(RUNNER), str(work / "bare.py"), str(empty), project_name, STACK],
            "literal": [python, str(RUNNER), str(work / "literal.py"), str(empty), project_name, STACK],
            "program": [python, str(RUNNER), str(ROOT / "__main__.py"), str(config_file), project_name, STACK],
            "render": [
                python,
                "-m",
                "components",
                "render",
                STACK,
                "--out",
                str(work / "out-docker"),
                "--project-dir",
                str(project),
            ],
        }
        samples: dict[str, list[Sample]] = {mode: [] for mode in MODES}
        for _ in range(repeat):
            for mode in MODES:
                samples[mode].append(timed(commands[mode], ROOT))
        resources = _stats(samples["program"])[3]
        base_min, base_median, base_rss, _ = _stats(samples["literal"])
        labels = {
            "bare": "SDK, same resources with minimal inputs",
            "literal": "SDK, same resources and inputs written literally (baseline)",
            "program": "stack program (`__main__.py`)",
            "render": "`python -m components render`",
        }
        for mode in MODES:
            low, median, rss, _ = _stats(samples[mode])
            rows.append(
                (
                    f"docker, {count} workspaces ({resources} resources): {labels[mode]}",
                    f"{median:.2f} s (min {low:.2f})",
                    f"{median / base_median:.2f} (min {low / base_min:.2f})",
                    f"{median / resources * 1000:.2f} ms/resource; peak {rss:.0f} MiB"
                    + (f" ({rss / base_rss:.2f}×)" if mode != "literal" else ""),
                )
            )
        rows += render_benchmarks(work, render_count, render_repeat, skip_docker=True)
    return rows


def render_benchmarks(work: Path, count: int, repeat: int, skip_docker: bool = False) -> list[Row]:
    """`python -m components render` of a `count`-workspace stack per target, against the same program run alone
    (`skip_docker`: the interleaved runs already rendered a Docker-host stack)."""
    python = sys.executable
    rows: list[Row] = []
    for target in ("kubernetes",) if skip_docker else ("docker", "kubernetes"):
        project = write_project(work / f"render-{target}", target, count)
        config_file = work / f"render-{target}.json"
        config_file.write_text(json.dumps(engine_config(project)))
        program_cmd = [python, str(RUNNER), str(ROOT / "__main__.py"), str(config_file), "docker-in-workspaces", STACK]
        render_cmd = [
            python,
            "-m",
            "components",
            "render",
            STACK,
            "--out",
            str(work / f"out-{target}"),
            "--project-dir",
            str(project),
        ]
        program_samples, render_samples = [], []
        for _ in range(repeat):
            program_samples.append(timed(program_cmd, ROOT))
            render_samples.append(timed(render_cmd, ROOT))
        p_min, p_median, _, resources = _stats(program_samples)
        r_min, r_median, rss, _ = _stats(render_samples)
        files = file_count(work / f"out-{target}")
        rows.append(
            (
                f"{target}, {count} workspaces: the program alone (baseline)",
                f"{p_median:.2f} s (min {p_min:.2f})",
                "1.00",
                f"{resources} resources",
            )
        )
        rows.append(
            (
                f"{target}, {count} workspaces: `python -m components render`",
                f"{r_median:.2f} s (min {r_min:.2f})",
                f"{r_median / p_median:.2f}",
                f"{files} files; peak {rss:.0f} MiB",
            )
        )
    return rows


Bench = Callable[..., list[Row]]
