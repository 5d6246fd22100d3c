"""The render of a big stack now, against the same render by the code of an earlier commit, side by side.

    venv/bin/python benchmarks/bench.py --against 797c2ca        # Kubernetes, 1000 workspaces, 3 pairs

Issue 16's Kubernetes goal is relative to the code it was filed on, and this machine's speed drifts
by up to 2x over a day, so the two are measured in the same run: the commit's tree is exported with
`git archive` (no checkout is touched), both render the same generated stack with this interpreter,
alternately (earlier, now, earlier, now, ...), and the ratio is of medians and of minimums. Both must
write the same number of files, or the stacks differ and nothing is reported.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import program_cost
from program_cost import ROOT, STACK, Row, Sample, file_count, timed, write_project


def export_tree(revision: str, directory: Path) -> str:
    """The files of `revision` into `directory`; returns its short commit id."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if commit.returncode != 0:
        raise SystemExit(f"--against {revision}: not a commit of this repository ({commit.stderr.strip()})")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit.stdout.strip()],
                             capture_output=True, check=True)  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    return commit.stdout.strip()


def _render(tree: Path, project: Path, out: Path) -> tuple[list[str], dict[str, str]]:
    """The render command for the code in `tree`: run from it, so `components` is that tree's package."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "components", "render", STACK, "--out", str(out), "--project-dir", str(project)]
    return command, env


def against(revision: str, target: str = "kubernetes", count: int = 1000, repeat: int = 3) -> list[Row]:
    """Rows: the render of a `count`-workspace `target` stack by `revision`'s code (baseline) and by this tree's."""
    with tempfile.TemporaryDirectory(prefix="diw-against-") as tmp:
        work = Path(tmp)
        earlier = work / "tree"
        earlier.mkdir()
        commit = export_tree(revision, earlier)
        trees = {"earlier": earlier, "now": ROOT}
        runs = {
            side: _render(tree, write_project(work / f"project-{side}", target, count, main=tree), work / f"out-{side}")
            for side, tree in trees.items()
        }
        samples: dict[str, list[Sample]] = {side: [] for side in trees}
        for _ in range(repeat):
            for side, (command, env) in runs.items():
                samples[side].append(timed(command, trees[side], env))
        files = {side: file_count(work / f"out-{side}") for side in trees}
        if files["earlier"] != files["now"]:
            raise SystemExit(f"--against {revision}: the renders differ in size ({files}); not the same stack")
        base_min, base_median, base_rss, _ = program_cost._stats(samples["earlier"])
        rows: list[Row] = []
        for side, label in (("earlier", f"at {commit} (baseline)"), ("now", "now")):
            low, median, rss, _ = program_cost._stats(samples[side])
            rows.append(
                (
                    f"{target}, {count} workspaces: `python -m components render` {label}",
                    f"{median:.2f} s (min {low:.2f})",
                    f"{median / base_median:.2f} (min {low / base_min:.2f})",
                    f"{files[side]} files; peak {rss:.0f} MiB" + (f" ({rss / base_rss:.2f}×)" if side == "now" else ""),
                )
            )
    return rows
