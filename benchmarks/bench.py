"""Benchmarks: each figure next to a baseline measured in the same run, as a ratio.

    venv/bin/python benchmarks/bench.py            # needs the private engine and test images
    venv/bin/python benchmarks/bench.py --quick    # fewer repeats and a smaller stack (CI)
    venv/bin/python benchmarks/bench.py --program-only
    venv/bin/python benchmarks/bench.py --against 797c2ca   # the Kubernetes render now vs at a commit

1. Per strategy: time from container start to `docker info` ready, against starting a
   plain container of the same image until an exec in it succeeds.
2. Nested `docker run --rm` latency, a write-heavy nested run (dd with fsync) and a nested
   `docker build` of a small context (`COPY` of a few files, `--no-cache`), each against the
   same command on the host engine.
3. Kubernetes pods run on the engine by the pod runner (benchmarks/pod_start.py): pod created to
   `docker info` in the workspace and to pod Ready, per strategy, against a plain container start.
4. The program's own cost on big stacks (benchmarks/program_cost.py): the stack program and
   the renderer against the same resources registered literally through the SDK.
5. `--against COMMIT` (benchmarks/render_against.py): the render of a big Kubernetes stack now, against the
   same render by an earlier commit's code, alternately in one run.

Rows are printed by `print_rows`; other benchmark modules return rows of the same shape.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

import pod_start  # noqa: E402
import program_cost  # noqa: E402
import pulumi  # noqa: E402
import render_against  # noqa: E402

from components import Strategy  # noqa: E402

Row = program_cost.Row

NESTED_RUN = "docker run --rm {image} true"
NESTED_WRITE = "docker run --rm {image} dd if=/dev/zero of=/written bs=1M count={mb} conv=fsync"
BUILD_DIR = f"/tmp/diw-bench-build-{os.getpid()}"  # one per run: several engineers share this /tmp
BUILD_FILES = 4
"""The build context: a Dockerfile and this many 1 MiB files of random bytes, all copied into the image."""
BUILD_SETUP = (
    f"rm -rf {BUILD_DIR} && mkdir -p {BUILD_DIR} && i=0; while [ $i -lt {BUILD_FILES} ]; do"
    f" head -c 1048576 /dev/urandom > {BUILD_DIR}/f$i || exit 1; i=$((i+1)); done;"
    f" printf 'FROM %s\\nCOPY {' '.join(f'f{i}' for i in range(BUILD_FILES))} /data/\\n' {{image}}"
    f" > {BUILD_DIR}/Dockerfile"
)
# The legacy builder on both sides: the workspace image's Debian CLI has no buildx, and the same builder makes
# the ratio about the engine, not about two builders. --no-cache: every repeat really builds.
NESTED_BUILD = f"DOCKER_BUILDKIT=0 docker build --no-cache -q -t diw-bench-build {BUILD_DIR}"


def timed_loop(command: str, repeat: int) -> str:
    """A shell snippet that runs `command` `repeat` times and prints the mean in ms."""
    return (
        f"s=$(date +%s%N); i=0; while [ $i -lt {repeat} ]; do {command} >/dev/null 2>&1 || exit 1; i=$((i+1)); done;"
        f" e=$(date +%s%N); echo $(( (e - s) / {repeat} / 1000000 ))"
    )


def host_ms(command: str, repeat: int, setup: str = "true", docker_host: str | None = None) -> float:
    env = dict(os.environ)
    import engine

    env["DOCKER_HOST"] = docker_host or engine.docker_host()
    script = f"{setup} || exit 1; {timed_loop(command, repeat)}"
    out = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"host benchmark failed: {command}: {out.stdout}{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def nested_ms(container, command: str, repeat: int, setup: str = "true", user: str | None = None) -> float:
    import engine

    script = f"{setup} || exit 1; {timed_loop(command, repeat)}"
    user = container.attrs["Config"]["User"] if user is None else user
    code, out = engine.exec_run(container, ["sh", "-c", script], user=user, timeout=900)
    if code != 0:
        raise RuntimeError(f"nested benchmark failed in {container.name}: {out}")
    return float(out.strip().splitlines()[-1])


def baseline_start_s(client, repeat: int) -> float:
    """Plain container of the workspace image: start until an exec succeeds."""
    import engine

    return engine.plain_start_seconds(client, repeat)


def engine_benchmarks(repeat: int, write_mb: int) -> list[Row]:
    import engine
    from deploy import deploy, destroy
    from test_docker_host_e2e import load_nested_image, workspace_program

    client = engine.client(timeout=600)
    if not engine.images_present(client):
        raise SystemExit("test images missing: run `bash tests/e2e/images/build.sh`")
    if not engine.privileged_works(client):
        print("note: --privileged fails on this kernel; privileged specs use the closest equivalent (see FINDINGS.md)")
    busybox = engine.BUSYBOX_IMAGE
    build_setup = BUILD_SETUP.format(image=busybox)
    rows: list[Row] = []
    base_start = baseline_start_s(client, repeat)
    rows.append(("plain container start → exec works (baseline)", f"{base_start:.2f} s", "1.00", "-"))
    base_run = host_ms(NESTED_RUN.format(image=busybox), repeat * 3)
    base_write = host_ms(NESTED_WRITE.format(image=busybox, mb=write_mb), repeat)
    base_build = host_ms(NESTED_BUILD, repeat * 2, setup=build_setup)
    rows.append(("host engine: `docker run --rm` (baseline)", f"{base_run:.0f} ms", "1.00", "-"))
    rows.append((f"host engine: write {write_mb} MiB + fsync (baseline)", f"{base_write:.0f} ms", "1.00", "-"))
    rows.append(
        (
            "host engine: `docker build --no-cache` (baseline)",
            f"{base_build:.0f} ms",
            "1.00",
            f"FROM busybox, COPY {BUILD_FILES} × 1 MiB; legacy builder",
        )
    )
    strategies = [Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR, Strategy.PODMAN]
    if not engine.role_present(client, "unprivileged"):
        print(
            "note: podman and dind-userns not measured: diw-test/unprivileged missing (run tests/e2e/images/build.sh)"
        )
        strategies.remove(Strategy.PODMAN)
    for strategy in strategies:
        name = f"bench-{strategy.value}"
        run = nested_run_command(strategy)
        ready = []
        try:
            for _ in range(repeat):
                destroy(client, [name])  # a cold start each time: fresh data root
                extra = engine.unprivileged_engine_args() if strategy == Strategy.PODMAN else {}
                result = deploy(client, workspace_program(name, strategy=strategy, **extra), [name])
                ready.append(max(result.mocks.timings.values()))
            workspace = client.containers.get(name)
            load_nested_image(workspace)
            run_ms = nested_ms(workspace, NESTED_RUN.format(image=busybox).replace("docker run", run), repeat * 3)
            write = NESTED_WRITE.format(image=busybox, mb=write_mb).replace("docker run", run)
            write_ms = nested_ms(workspace, write, repeat)
            build_ms = nested_ms(workspace, NESTED_BUILD, repeat * 2, setup=build_setup)
            driver = (
                engine.exec_run(
                    workspace, ["docker", "info", "--format", "{{.Driver}}"], user=workspace.attrs["Config"]["User"]
                )[1]
                .strip()
                .splitlines()[-1]
            )
        finally:
            destroy(client, [name])
        start = statistics.median(ready)
        rows.append(
            (
                f"{strategy}: container start → `docker info` ready",
                f"{start:.2f} s",
                f"{start / base_start:.2f}",
                f"driver {driver}" + ("; Podman's Docker API" if strategy == Strategy.PODMAN else ""),
            )
        )
        network = "" if run == "docker run" else f"`{run}`: this host does not forward IPv4 (FINDINGS.md)"
        rows.append((f"{strategy}: nested `docker run --rm`", f"{run_ms:.0f} ms", f"{run_ms / base_run:.2f}", network))
        rows.append(
            (
                f"{strategy}: nested write {write_mb} MiB + fsync",
                f"{write_ms:.0f} ms",
                f"{write_ms / base_write:.2f}",
                "",
            )
        )
        rows.append((f"{strategy}: nested `docker build`", f"{build_ms:.0f} ms", f"{build_ms / base_build:.2f}", ""))
    rows.append(dood_build_row(client, repeat, base_build, build_setup))
    rows += dind_userns_rows(client, repeat, write_mb, build_setup)
    return rows


def nested_run_command(strategy: Strategy) -> str:
    """`docker run`, or for podman on a host that does not forward IPv4 `docker run --network slirp4netns`."""
    from test_developer_day_e2e import docker_run

    return docker_run(strategy)


def dind_userns_rows(client, repeat: int, write_mb: int, build_setup: str) -> list[Row]:
    """dind-userns runs only as a pod with `hostUsers: false`: on the --userns-remap engine, through the pod
    runner; its nested figures against the same commands on that engine itself, measured now."""
    import engine
    from pod_runner import Kube

    userns, reason = engine.userns_client(timeout=600)
    if userns is None or not engine.role_present(client, "unprivileged"):
        print(f"note: dind-userns nested benchmarks not measured: {reason or 'diw-test/unprivileged missing'}")
        return []
    busybox = engine.BUSYBOX_IMAGE
    engine.copy_images(client, userns, [engine.SELECTION.name("unprivileged"), busybox])
    host = engine.base_url_of(userns)
    base_run = host_ms(NESTED_RUN.format(image=busybox), repeat * 3, docker_host=host)
    base_write = host_ms(NESTED_WRITE.format(image=busybox, mb=write_mb), repeat, docker_host=host)
    base_build = host_ms(NESTED_BUILD, repeat * 2, setup=build_setup, docker_host=host)
    kube = Kube(userns, grace_seconds=5)
    name = f"bench-dind-userns-{os.getpid()}"
    try:
        kube.apply(pod_start._program(name, Strategy.DIND_USERNS), timeout=300)
        workspace = kube.pod(name).container("workspace")
        from test_docker_host_e2e import load_nested_image

        load_nested_image(workspace)
        run_ms = nested_ms(workspace, NESTED_RUN.format(image=busybox), repeat * 3)
        write_ms = nested_ms(workspace, NESTED_WRITE.format(image=busybox, mb=write_mb), repeat)
        build_ms = nested_ms(workspace, NESTED_BUILD, repeat * 2, setup=build_setup)
    finally:
        kube.destroy()
    where = "--userns-remap engine (baseline: the same command on it)"
    return [
        ("userns engine: `docker run --rm` (baseline)", f"{base_run:.0f} ms", "1.00", "-"),
        (f"userns engine: write {write_mb} MiB + fsync (baseline)", f"{base_write:.0f} ms", "1.00", "-"),
        ("userns engine: `docker build --no-cache` (baseline)", f"{base_build:.0f} ms", "1.00", "-"),
        ("k8s pod dind-userns: nested `docker run --rm`", f"{run_ms:.0f} ms", f"{run_ms / base_run:.2f}", where),
        (
            f"k8s pod dind-userns: nested write {write_mb} MiB + fsync",
            f"{write_ms:.0f} ms",
            f"{write_ms / base_write:.2f}",
            where,
        ),
        ("k8s pod dind-userns: nested `docker build`", f"{build_ms:.0f} ms", f"{build_ms / base_build:.2f}", where),
    ]


def dood_build_row(client, repeat: int, base_build: float, build_setup: str) -> Row:
    """dood builds on the host engine itself, through the mounted socket: what a workspace's CLI adds."""
    import engine
    from deploy import deploy, destroy
    from test_docker_host_e2e import workspace_program

    name = "bench-dood"
    gid = engine.socket_path().stat().st_gid
    try:
        destroy(client, [name])
        deploy(client, workspace_program(name, strategy=Strategy.DOOD, docker_socket_gid=gid), [name])
        build_ms = nested_ms(client.containers.get(name), NESTED_BUILD, repeat * 2, setup=build_setup, user="1000")
    finally:
        destroy(client, [name])
    return ("dood: `docker build` through the host socket", f"{build_ms:.0f} ms", f"{build_ms / base_build:.2f}", "")


def print_rows(rows: list[Row]) -> None:
    """The one place rows become the Markdown table (other benchmark modules return `Row`s)."""
    print("\n| measurement | value | ratio to baseline | note |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="1 engine repeat, smaller writes; 300 workspaces twice; render 1000 once"
    )
    parser.add_argument("--program-only", action="store_true", help="only the program's cost (no engine needed)")
    parser.add_argument(
        "--against",
        metavar="COMMIT",
        help="only the render of a 1000-workspace Kubernetes stack, now and by COMMIT's code, alternately",
    )
    options = parser.parse_args()
    pulumi.log.info = lambda *a, **k: None  # keep the table readable
    if options.against:
        print_rows(render_against.against(options.against, repeat=1 if options.quick else 3))
        return
    repeat, write_mb = (1, 64) if options.quick else (3, 256)
    # (workspaces, repeats) for the interleaved program runs, then for the render of a big stack per target
    program_size, program_repeat, render_size, render_repeat = (
        (300, 2, 1000, 1) if options.quick else (1000, 3, 1000, 2)
    )
    rows = [] if options.program_only else engine_benchmarks(repeat, write_mb) + pod_start.rows(repeat)
    rows += program_cost.program_benchmarks(program_size, program_repeat, render_size, render_repeat)
    print_rows(rows)


if __name__ == "__main__":
    main()
