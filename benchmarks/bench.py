"""Benchmarks: each figure next to a baseline measured in the same run, as a ratio.

    venv/bin/python benchmarks/bench.py            # needs the private engine and test images
    venv/bin/python benchmarks/bench.py --quick    # fewer repeats and sizes (CI)
    venv/bin/python benchmarks/bench.py --program-only

1. Per strategy: time from container start to `docker info` ready, against starting a
   plain container of the same image until an exec in it succeeds.
2. Nested `docker run --rm` latency and a write-heavy nested run (dd with fsync), each
   against the same command on the host engine.
3. The program's own cost: registering N workspaces under mocks, against registering N
   bare pulumi-docker Containers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

import pulumi  # noqa: E402
import pulumi_docker as docker_provider  # noqa: E402
from harness import run  # noqa: E402

from components import DockerHostWorkspace, Strategy  # noqa: E402

NESTED_RUN = "docker run --rm {image} true"
NESTED_WRITE = "docker run --rm {image} dd if=/dev/zero of=/written bs=1M count={mb} conv=fsync"


def timed_loop(command: str, repeat: int) -> str:
    """A shell snippet that runs `command` `repeat` times and prints the mean in ms."""
    return (
        f"s=$(date +%s%N); i=0; while [ $i -lt {repeat} ]; do {command} >/dev/null 2>&1 || exit 1; i=$((i+1)); done;"
        f" e=$(date +%s%N); echo $(( (e - s) / {repeat} / 1000000 ))"
    )


def host_ms(command: str, repeat: int) -> float:
    env = dict(os.environ)
    import engine

    env["DOCKER_HOST"] = engine.docker_host()
    out = subprocess.run(["sh", "-c", timed_loop(command, repeat)], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def nested_ms(container, command: str, repeat: int) -> float:
    import engine

    code, out = engine.exec_run(
        container, ["sh", "-c", timed_loop(command, repeat)], user=container.attrs["Config"]["User"], timeout=900
    )
    if code != 0:
        raise RuntimeError(f"nested benchmark failed in {container.name}: {out}")
    return float(out.strip().splitlines()[-1])


def baseline_start_s(client, repeat: int) -> float:
    """Plain container of the workspace image: start until an exec succeeds."""
    import engine

    samples = []
    for _ in range(repeat):
        container = client.containers.create(engine.WORKSPACE_IMAGE, ["sleep", "infinity"], labels={"diw.e2e": "1"})
        try:
            started = time.monotonic()
            container.start()
            while engine.exec_run(container, ["true"])[0] != 0:
                time.sleep(0.05)
            samples.append(time.monotonic() - started)
        finally:
            container.remove(force=True)
    return statistics.median(samples)


def engine_benchmarks(repeat: int, write_mb: int) -> list[tuple[str, str, str, str]]:
    import engine
    from deploy import deploy, destroy
    from test_docker_host_e2e import load_nested_image, workspace_program

    client = engine.client(timeout=600)
    if not engine.images_present(client):
        raise SystemExit("test images missing: run `bash tests/e2e/images/build.sh`")
    if not engine.privileged_works(client):
        print("note: --privileged fails on this kernel; privileged specs use the closest equivalent (see FINDINGS.md)")
    rows = []
    base_start = baseline_start_s(client, repeat)
    rows.append(("plain container start → exec works (baseline)", f"{base_start:.2f} s", "1.00", "-"))
    base_run = host_ms(NESTED_RUN.format(image=engine.BUSYBOX_IMAGE), repeat * 3)
    base_write = host_ms(NESTED_WRITE.format(image=engine.BUSYBOX_IMAGE, mb=write_mb), repeat)
    rows.append(("host engine: `docker run --rm` (baseline)", f"{base_run:.0f} ms", "1.00", "-"))
    rows.append((f"host engine: write {write_mb} MiB + fsync (baseline)", f"{base_write:.0f} ms", "1.00", "-"))
    for strategy in (Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR):
        name = f"bench-{strategy.value}"
        ready = []
        try:
            for _ in range(repeat):
                destroy(client, [name])  # a cold start each time: fresh data root
                result = deploy(client, workspace_program(name, strategy=strategy), [name])
                ready.append(max(result.mocks.timings.values()))
            workspace = client.containers.get(name)
            load_nested_image(workspace)
            run_ms = nested_ms(workspace, NESTED_RUN.format(image=engine.BUSYBOX_IMAGE), repeat * 3)
            write_ms = nested_ms(workspace, NESTED_WRITE.format(image=engine.BUSYBOX_IMAGE, mb=write_mb), repeat)
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
                f"driver {driver}",
            )
        )
        rows.append((f"{strategy}: nested `docker run --rm`", f"{run_ms:.0f} ms", f"{run_ms / base_run:.2f}", ""))
        rows.append(
            (
                f"{strategy}: nested write {write_mb} MiB + fsync",
                f"{write_ms:.0f} ms",
                f"{write_ms / base_write:.2f}",
                "",
            )
        )
    return rows


def register_seconds(count: int, build) -> float:
    started = time.perf_counter()
    run(lambda: [build(i) for i in range(count)])
    return time.perf_counter() - started


def program_benchmarks(sizes: list[int]) -> list[tuple[str, str, str, str]]:
    def workspace(i: int):
        DockerHostWorkspace(
            f"ws{i}", {"strategy": Strategy.DIND, "image": "codercom/enterprise-base:ubuntu", "allow_insecure": True}
        )

    def bare(i: int):
        docker_provider.Container(f"c{i}", image="codercom/enterprise-base:ubuntu", name=f"c{i}")

    register_seconds(20, workspace)  # warm up imports and the mock monitor
    rows = []
    for size in sizes:
        bare_s = register_seconds(size, bare)
        ws_s = register_seconds(size, workspace)
        rows.append(
            (
                f"register {size} workspaces (dind: 5 resources each)",
                f"{ws_s:.2f} s",
                f"{ws_s / bare_s:.2f}",
                f"baseline {size} bare Containers: {bare_s:.2f} s",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repeat, smaller writes, 100 and 500 workspaces")
    parser.add_argument("--program-only", action="store_true", help="only the program's registration cost")
    options = parser.parse_args()
    repeat, write_mb = (1, 64) if options.quick else (3, 256)
    sizes = [100, 500] if options.quick else [100, 500, 1000]
    pulumi.log.info = lambda *a, **k: None  # keep the table readable
    rows = [] if options.program_only else engine_benchmarks(repeat, write_mb)
    rows += program_benchmarks(sizes)
    print("\n| measurement | value | ratio to baseline | note |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
