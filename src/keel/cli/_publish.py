"""`--publish URL` of `keel score` and `keel monitor`: the run sent to the team view.

Publishing never fails the run: what the server cannot take now waits in .keel/outbox/, what
it refuses is said, and any other problem is a warning (see keel.ui.publish).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from keel.cli._app import err

PublishOpt = Annotated[
    str | None,
    typer.Option(
        "--publish",
        help="Also send the report to a team view (keel ui) at this URL; never fails the run.",
        show_default=False,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="Team view token of role publish (default: $KEEL_UI_TOKEN).",
        show_default=False,
    ),
]  # fmt: skip


def publish_run(
    report: dict,
    kind: str,
    keel_dir: Path,
    url: str,
    token: str | None,
    *,
    team: str | None,
    owner: str | None,
) -> None:
    """Publish a finished run (report.json as a dict); print what happened. Never raises."""
    try:
        from keel.ui.publish import publish_run as send

        outcome = send(
            report, kind=kind, keel_dir=keel_dir, url=url,
            token=token or os.environ.get("KEEL_UI_TOKEN"), team=team, owner=owner,
        )  # fmt: skip
        for line in outcome.lines:
            calm = line.startswith("publish: this run sent") or " sent to " in line
            err.print(f"[{'dim' if calm else 'yellow'}]{escape(line)}[/]", highlight=False)
    except Exception as exc:  # publishing never fails the local run
        err.print(f"[yellow]publish: not sent: {escape(str(exc))}[/]", highlight=False)
