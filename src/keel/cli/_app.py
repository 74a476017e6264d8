"""The `keel` app, its consoles, and `command`: the one way a command joins the app.

Every command added with `command` turns a `KeelError` into its message on standard error and
exit status 2 (with the user's own traceback when their code raised), and Ctrl-C into
"interrupted" and exit 130. Command modules import only this module from the CLI, so the
package has no import cycle.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from keel.errors import KeelError, interrupted

F = TypeVar("F", bound=Callable[..., Any])

# The system argument most commands take.
PathArg = Annotated[Path, typer.Argument(help="keel.toml, or the folder that holds it.")]
# Where the data work runs, on the commands that can run it on Spark.
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        help="local or spark (default: keel.toml's [engine] kind, else local).",
        show_default=False,
    ),
]
MasterOpt = Annotated[
    str | None,
    typer.Option(
        help="Spark master URL, e.g. local[4], yarn, spark://host:7077.", show_default=False
    ),
]

app = typer.Typer(
    help="Keel: the ML Test Score of your ML system, automated, with evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def user_errors(func: F) -> F:
    """`func` with Keel's errors and Ctrl-C turned into a message and an exit status."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeelError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            trace = getattr(exc, "user_traceback", "")
            if trace:
                err.print(escape(trace), highlight=False, soft_wrap=True, style="dim")
            raise typer.Exit(2) from None
        except (KeyboardInterrupt, RuntimeError) as exc:
            if not interrupted(exc):  # DuckDB's Ctrl-C is a RuntimeError; any other is a bug
                raise
            err.print("interrupted: nothing was written", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def group(name: str, help: str, *, no_args_is_help: bool = True) -> typer.Typer:
    """A group of subcommands, `keel NAME …`, added to the app."""
    sub = typer.Typer(help=help, no_args_is_help=no_args_is_help)
    app.add_typer(sub, name=name)
    return sub


def command(name: str | None = None, *, under: typer.Typer = app) -> Callable[[F], F]:
    """Add the decorated function as the command `name` (default: the function's name) of the
    app, or of a group made by `group`, with `user_errors` around it."""

    def add(func: F) -> F:
        wrapped = user_errors(func)
        under.command(name)(wrapped)
        return wrapped

    return add


def comma_list(value: str | None) -> list[str] | None:
    """A comma-separated option (`--only data.1,model.5`) as its items; None when empty."""
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


Update = Callable[[str, int, int | None], None]


@contextlib.contextmanager
def progress_bar(name: str) -> Iterator[Update]:
    """A transient Rich progress bar on standard error for long work; yields
    `update(description, done, total)` (total None: not known yet)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description:<60}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(name, total=None)

        def update(description: str, done: int, total: int | None) -> None:
            bar.update(task, description=description[:60], completed=done, total=total)

        yield update
