"""Benchmark: Kubernetes pod start -> workspace ready, per strategy, on the private engine.

    venv/bin/python benchmarks/pod_start.py            # needs the private engine and test images
    venv/bin/python benchmarks/pod_start.py --repeat 3

The pods are the ones KubernetesWorkspace renders, run by tests/e2e/pod_runner.py as a
kubelet would. Two figures per strategy, each the median of cold starts (fresh PVCs)
and a ratio to a plain container start (until an exec in it succeeds) measured in the
same run:

- pod created -> `docker info` answers in the workspace (as its user, its DOCKER_HOST);
- pod created -> pod Ready, as the kubelet's probes see it: startupProbe every 5 s, so
  readiness lags the daemon by up to one probe period (the first probe, at start,
  finds no daemon yet).

`rows(repeat)` returns the table rows (measurement, value, ratio, note) for bench.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests", ROOT / "tests" / "e2e"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import engine  # noqa: E402
import pulumi  # noqa: E402
from pod_runner import Kube  # noqa: E402

from components import KubernetesWorkspace, Strategy  # noqa: E402

STRATEGIES = (Strategy.DIND, Strategy.DIND_ROOTLESS, Strategy.DIND_SIDECAR, Strategy.DOOD, Strategy.PODMAN)
USERNS_STRATEGIES = (Strategy.DIND_USERNS,)
"""Run on the --userns-remap engine (the stand-in for a node with user namespaces), against its own baseline."""
UNPRIVILEGED = (Strategy.PODMAN, Strategy.DIND_USERNS)
Row = tuple[str, str, str, str]


def plain_start_s(client, repeat: int) -> float:
    """Baseline: a plain container of the workspace image, start until an exec in it succeeds."""
    return engine.plain_start_seconds(client, repeat)


def _program(name: str, strategy: Strategy):
    # As the pod e2e tests: the public image lacks the rootless extras, rootless gets the full test image.
    image = engine.WORKSPACE_IMAGE if strategy == Strategy.DIND_ROOTLESS else "codercom/enterprise-base:ubuntu"
    if strategy in UNPRIVILEGED:
        image = engine.SELECTION.name("unprivileged")
        args_extra = engine.unprivileged_engine_args()
    else:
        args_extra = {}
    args = {"strategy": strategy, "image": image, "allow_insecure": True, **args_extra}
    if strategy == Strategy.DOOD:
        args["docker_socket_gid"] = engine.socket_path().stat().st_gid

    def program():
        KubernetesWorkspace(name, args)  # type: ignore[arg-type]

    return program


def pod_start_s(client, strategy: Strategy) -> tuple[float, float]:
    """One cold pod start: (seconds to `docker info` in the workspace, seconds to pod Ready)."""
    name = f"bench-pod-{strategy.value}-{uuid.uuid4().hex[:6]}"
    kube = Kube(client, grace_seconds=5)
    try:
        kube.apply(_program(name, strategy), wait=False)
        pod = kube.pod(name)
        docker_ready = None
        deadline = time.monotonic() + 300
        while docker_ready is None and time.monotonic() < deadline:
            state = pod.state("workspace")
            if state.docker_id is not None:
                container = client.containers.get(state.docker_id)
                user = container.attrs["Config"]["User"]
                if engine.exec_run(container, ["docker", "info"], user=user, timeout=15)[0] == 0:
                    docker_ready = time.monotonic() - pod.created_at
                    break
            time.sleep(0.1)
        if docker_ready is None:
            raise RuntimeError(f"{strategy}: docker info never answered\n{pod.describe()}")
        ready = pod.wait_ready(300)
        return docker_ready, ready
    finally:
        kube.destroy()


def rows(repeat: int = 1) -> list[Row]:
    client = engine.client(timeout=600)
    if not engine.images_present(client):
        raise SystemExit("test images missing: run `bash tests/e2e/images/build.sh`")
    pulumi.log.info = lambda *a, **k: None  # keep the table readable
    base = plain_start_s(client, max(repeat, 3))
    table: list[Row] = [("plain container start → exec works (pod baseline)", f"{base:.2f} s", "1.00", "-")]
    unprivileged_present = engine.role_present(client, "unprivileged")
    if not unprivileged_present:
        print("note: k8s pod podman and dind-userns not measured: diw-test/unprivileged missing")
    measured = [s for s in STRATEGIES if unprivileged_present or s not in UNPRIVILEGED]
    table += _strategy_rows(client, measured, base, repeat)
    userns, reason = engine.userns_client(timeout=600)
    if userns is None or not unprivileged_present:
        reason = reason or "diw-test/unprivileged missing"
        print(f"note: k8s pod {', '.join(s.value for s in USERNS_STRATEGIES)} not measured: {reason}")
        return table
    unprivileged = engine.SELECTION.name("unprivileged")
    engine.copy_images(client, userns, [unprivileged, engine.BUSYBOX_IMAGE])
    userns_base = engine.plain_start_seconds(userns, max(repeat, 3), image=unprivileged)
    table.append(
        (
            "plain container start → exec works (baseline on the --userns-remap engine)",
            f"{userns_base:.2f} s",
            "1.00",
            f"{unprivileged}",
        )
    )
    return table + _strategy_rows(userns, USERNS_STRATEGIES, userns_base, repeat)


def _strategy_rows(client, strategies, base: float, repeat: int) -> list[Row]:
    table: list[Row] = []
    for strategy in strategies:
        samples = [pod_start_s(client, strategy) for _ in range(repeat)]
        docker = statistics.median(s[0] for s in samples)
        ready = statistics.median(s[1] for s in samples)
        table.append(
            (
                f"k8s pod {strategy}: pod created → `docker info` in the workspace",
                f"{docker:.2f} s",
                f"{docker / base:.2f}",
                "pod runner (sandbox, volumes, fsGroup, containers)",
            )
        )
        table.append(
            (
                f"k8s pod {strategy}: pod created → pod Ready",
                f"{ready:.2f} s",
                f"{ready / base:.2f}",
                "startupProbe every 5 s" if strategy != Strategy.DOOD else "no probes (no daemon of its own)",
            )
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="cold starts per strategy (median)")
    options = parser.parse_args()
    print("\n| measurement | value | ratio to baseline | note |\n|---|---|---|---|")
    for row in rows(options.repeat):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
