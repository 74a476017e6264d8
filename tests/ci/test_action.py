"""action.yml, run as a GitHub runner would run it, on a pull request whose head breaks data.4.

Each `run:` step runs with bash as GitHub runs it (`bash --noprofile --norc -eo pipefail`), its
`env:` and `${{ }}` expressions filled in as the runner would, in a clone checked out at the
head commit, with `origin` holding the base branch. The steps that call GitHub's services
(actions/setup-python, actions/upload-artifact, mikepenz/action-junit-report,
actions/github-script posting the comment) are not run; the test checks the files they are
given instead: the report and junit.xml exist, and the comment file holds the Markdown diff.
The install step runs with `install: --dry-run --no-deps`: pip resolves and builds the
action's own checkout as the package `keel` without installing it over the test's Keel.
"""

from __future__ import annotations

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml
from pull_requests import ONLY, ROOT

ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
EXTERNAL = {  # steps that call GitHub's services, not run here
    "actions/setup-python",
    "actions/upload-artifact",
    "mikepenz/action-junit-report",
    "actions/github-script",
}


def _outputs(file: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in file.read_text().splitlines() if "=" in line)


def run_action(pr, tmp_path: Path, inputs: dict[str, str]) -> dict[str, object]:
    """Run the action's steps; return the exit status of each run step and what was skipped."""
    runner = tmp_path / "runner"
    runner.mkdir()
    context = {
        "github.base_ref": pr.base,
        "github.token": "not-used",
        "github.server_url": "https://github.example",
        "github.repository": "team/system",
        "github.run_id": "42",
        "github.event.pull_request.number": "7",
        "runner.temp": str(runner),
    }
    for name, spec in ACTION["inputs"].items():
        context[f"inputs.{name}"] = inputs.get(name, spec.get("default", ""))
    for key, value in list(context.items()):  # defaults may be expressions (base-ref)
        context[key] = EXPRESSION.sub(lambda m: context[m.group(1)], str(value))
    statuses, skipped, outputs = {}, [], {}

    def expand(text: str) -> str:
        def value(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("steps."):
                _, step, _, key = name.split(".")
                return outputs.get(step, {}).get(key, "")
            return context[name]

        return EXPRESSION.sub(value, str(text))

    for step in ACTION["runs"]["steps"]:
        if "uses" in step:
            uses = step["uses"].split("@")[0]
            assert uses in EXTERNAL, uses
            skipped.append(
                (
                    uses,
                    {k: expand(v) for k, v in step.get("with", {}).items()},
                    {k: expand(v) for k, v in step.get("env", {}).items()},
                )
            )
            continue
        assert step["shell"] == "bash"
        script = runner / f"step{len(statuses)}.sh"
        script.write_text(step["run"])
        output, summary = runner / "output", runner / "summary"
        output.write_text("")
        env = {
            **pr.env,
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_WORKSPACE": str(pr.workspace),
            "RUNNER_TEMP": str(runner),
            **{k: expand(v) for k, v in step.get("env", {}).items()},
        }
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=pr.workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        statuses[step["name"]] = (done.returncode, done.stdout + done.stderr)
        if "id" in step:
            outputs[step["id"]] = _outputs(output)
    return {"statuses": statuses, "skipped": skipped, "outputs": outputs, "runner": runner}


def test_the_action_scores_both_commits_gates_and_writes_the_pr_comment(pull_request, tmp_path):
    ran = run_action(
        pull_request,
        tmp_path,
        {"min-score": "1", "args": ONLY, "install": "--dry-run --no-deps"},
    )
    statuses = ran["statuses"]
    install, output = statuses["Install Keel"]
    assert install == 0, output
    assert "Would install keel-0.1.0" in output  # the action's own checkout, as a package
    assert statuses["Score the base branch"][0] == 0, statuses["Score the base branch"][1]
    assert statuses["Score this commit"][0] == 0, statuses["Score this commit"][1]
    score = ran["outputs"]["score"]
    assert score["exit-code"] == "1"  # head score 0 is below --min-score 1
    assert score["score"] == "0"
    gate, output = statuses["Gate on the score"]
    assert gate == 1 and "keel score exited 1" in output

    runner = ran["runner"]
    comment = Path(score["comment-file"]).read_text()
    lines = comment.splitlines()
    assert lines[0] == "<!-- keel-score -->"
    assert lines[1] == "### Keel: ML Test Score 0 (research), ±0 from main (0)"
    assert "| data | 1 | 0 | −1 |" in lines
    assert "**New failures (1)**" in lines
    assert any(
        line.startswith("| `data.4` Features adhere to meta-level requirements | Pass | Fail |")
        and "ssn_hash matches deny pattern 'ssn*'" in line
        for line in lines
    )
    assert lines[-1] == "[HTML report](https://github.example/team/system/actions/runs/42)"
    assert (runner / "summary").read_text() == comment  # the job summary shows it too

    skipped = {uses: (with_, env) for uses, with_, env in ran["skipped"]}
    assert set(skipped) == {
        "actions/setup-python",
        "actions/upload-artifact",
        "mikepenz/action-junit-report",
        "actions/github-script",
    }
    for path in skipped["actions/upload-artifact"][0]["path"].split():
        assert Path(path).is_file(), path
    junit = ET.parse(skipped["mikepenz/action-junit-report"][0]["report_paths"]).getroot()
    failed = [c.get("name") for c in junit.iter("testcase") if c.find("failure") is not None]
    assert failed == ["data.4 Features adhere to meta-level requirements"]
    script = skipped["actions/github-script"]
    assert Path(script[1]["COMMENT_FILE"]).read_text() == comment
    assert "<!-- keel-score -->" in script[0]["script"]  # finds its comment by the marker
    assert "updateComment" in script[0]["script"] and "createComment" in script[0]["script"]


def test_without_a_base_ref_the_action_scores_the_head_alone(pull_request, tmp_path):
    ran = run_action(
        pull_request, tmp_path, {"base-ref": "", "args": ONLY, "install": "--dry-run --no-deps"}
    )
    statuses = ran["statuses"]
    assert "no base ref" in statuses["Score the base branch"][1]
    assert ran["outputs"]["score"]["exit-code"] == "0"
    assert statuses["Gate on the score"][0] == 0
    comment = Path(ran["outputs"]["score"]["comment-file"]).read_text()
    assert "### Keel: ML Test Score 0 (research)\n" in comment
    assert "**Failing (1)**" in comment
