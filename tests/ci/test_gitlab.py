"""ci/gitlab/keel.gitlab-ci.yml, run as a GitLab runner would run the job, on a merge request
whose head breaks data.4.

The job's `script:` lines run in one bash with `-eo pipefail`, as GitLab's runner runs them
(variables persist from line to line), with the job's `variables:` and GitLab's predefined
ones set, in a clone at the head commit with `origin` holding the target branch. The merge
request note goes to a small stand-in of GitLab's notes API on 127.0.0.1 (list, create,
update, checking the token): the job is run twice and leaves one note, updated. Not run: the
artifact upload and the JUnit report, which are GitLab's own (`artifacts:`); the test checks
the files they name exist.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from pull_requests import ONLY, ROOT

TEMPLATE = yaml.safe_load((ROOT / "ci" / "gitlab" / "keel.gitlab-ci.yml").read_text("utf-8"))
TOKEN = "glpat-test"


class Notes(BaseHTTPRequestHandler):
    """GitLab's merge request notes API, for one merge request: GET, POST, PUT."""

    notes: list[dict] = []

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _allowed(self) -> bool:
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
            self._reply(401, {"message": "401 Unauthorized"})
            return False
        return self.path.startswith("/api/v4/projects/5/merge_requests/9/notes")

    def do_GET(self) -> None:  # noqa: N802
        if self._allowed():
            self._reply(200, [{"id": 1, "body": "a reviewer's note"}, *self.notes])

    def do_POST(self) -> None:  # noqa: N802
        if self._allowed():
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"]
            self.notes.append({"id": 100 + len(self.notes), "body": body})
            self._reply(201, self.notes[-1])

    def do_PUT(self) -> None:  # noqa: N802
        if self._allowed():
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"]
            note_id = int(self.path.rsplit("/", 1)[1])
            note = next(n for n in self.notes if n["id"] == note_id)
            note["body"] = body
            self._reply(200, note)

    def log_message(self, *args: object) -> None:
        pass


def run_job(pr, api: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    job = TEMPLATE["keel"]
    predefined = {
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": pr.base,
        "CI_MERGE_REQUEST_IID": "9",
        "CI_PROJECT_ID": "5",
        "CI_API_V4_URL": api,
        "CI_JOB_URL": "https://gitlab.example/team/system/-/jobs/77",
        "CI_PIPELINE_SOURCE": "merge_request_event",
    }
    env = {**pr.env, **predefined}
    for name, value in job["variables"].items():  # GitLab expands $VARS in variables
        env[name] = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), str(value))
    env.update(variables)
    script = "\n".join(job["script"])
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=pr.workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_job_scores_gates_uploads_and_keeps_one_merge_request_note(pull_request):
    Notes.notes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Notes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    variables = {
        "KEEL_PIP_SPEC": str(ROOT),
        "KEEL_INSTALL": "--dry-run --no-deps",  # resolve this checkout, install nothing
        "KEEL_MIN_SCORE": "1",
        "KEEL_ARGS": ONLY,
        "KEEL_GITLAB_TOKEN": TOKEN,
    }
    try:
        first = run_job(pull_request, api, variables)
        second = run_job(pull_request, api, variables)
    finally:
        server.shutdown()
        server.server_close()
    for done in (first, second):
        assert done.returncode == 1, done.stdout + done.stderr  # score 0 < --min-score 1
    assert "Would install keel-0.1.0" in first.stdout
    assert "merge request note written" in first.stdout
    assert "merge request note updated" in second.stdout

    assert len(Notes.notes) == 1  # one note, updated, beside the reviewer's
    note = Notes.notes[0]["body"]
    lines = note.splitlines()
    assert lines[0] == "<!-- keel-score -->"
    assert lines[1] == "### Keel: ML Test Score 0 (research), ±0 from main (0)"
    assert "**New failures (1)**" in lines
    assert "ssn_hash matches deny pattern 'ssn*'" in note
    report = "https://gitlab.example/team/system/-/jobs/77/artifacts/file/keel-report/report.html"
    assert lines[-1] == f"[HTML report]({report})"

    artifacts = TEMPLATE["keel"]["artifacts"]
    assert artifacts["when"] == "always"
    for path in artifacts["paths"]:
        assert (pull_request.workspace / path / "report.html").is_file()
    junit = pull_request.workspace / artifacts["reports"]["junit"]
    assert "data.4 Features adhere" in junit.read_text()


def test_without_a_token_the_job_still_scores_and_says_why_there_is_no_note(pull_request):
    done = run_job(
        pull_request,
        "http://127.0.0.1:9/api/v4",
        {"KEEL_PIP_SPEC": str(ROOT), "KEEL_INSTALL": "--dry-run --no-deps", "KEEL_ARGS": ONLY},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no merge request note (needs a merge request pipeline and KEEL_GITLAB_TOKEN)" in (
        done.stdout
    )
    assert (pull_request.workspace / "keel-report" / "comment.md").is_file()


def test_without_a_pip_spec_the_job_stops_saying_what_to_set(pull_request):
    done = run_job(pull_request, "http://127.0.0.1:9/api/v4", {})
    assert done.returncode == 2
    assert "set KEEL_PIP_SPEC" in done.stdout
