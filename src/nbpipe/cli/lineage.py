"""``nbpipe lineage``: the graph of datasets and pipelines (``show``, the default subcommand).

``nbpipe lineage [NAME] [--upstream|--downstream] [--json]`` is ``nbpipe lineage show …``: any first
argument that is not a subcommand of the group is handed to ``show``, so further subcommands (such
as ``flush``) sit beside it while a dataset or pipeline name never has to be spelled after ``show``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from nbpipe.cli._common import JsonOpt, ProfileOpt, ProjectOpt, console, load, say

DEFAULT = "show"


class _ShowByDefault(TyperGroup):
    """A group whose bare form (or a first argument that is not a subcommand) runs ``show``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)


lineage_app = typer.Typer(
    cls=_ShowByDefault,
    help="The lineage of datasets and pipelines (`nbpipe lineage [NAME]` shows the graph).",
)


@lineage_app.command(DEFAULT)
def show(
    name: Annotated[str | None, typer.Argument(help="A dataset or pipeline: show only its lineage.")] = None,
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what NAME comes from.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what comes from NAME.")] = False,
    as_json: JsonOpt = False,
    project: ProjectOpt = None,
    profile: ProfileOpt = None,
) -> None:
    """Print the graph from nbpipe.yaml and from what runs read and wrote; flag undeclared reads."""
    from nbpipe.errors import ParameterError
    from nbpipe.ops.lineage_graph import project_graph
    from nbpipe.run.store import RunStore

    if upstream and downstream:
        raise ParameterError("--upstream and --downstream exclude each other",
                             hint="pass one of them, or neither for both directions")
    if (upstream or downstream) and name is None:
        raise ParameterError("--upstream/--downstream need a NAME", hint="e.g. `nbpipe lineage flights --upstream`")
    proj = load(project, profile)
    with RunStore(proj.store_url) as store:
        graph = project_graph(proj, store)
    if name is not None:
        graph = graph.around(name, "upstream" if upstream else "downstream" if downstream else "both")
    if as_json:
        console.print_json(json.dumps(graph.to_dict()))
        return
    lines = graph.render()
    for text in lines or ["no datasets or pipelines yet: declare them in nbpipe.yaml or run `nbpipe promote`"]:
        say(text)
    if graph.undeclared:
        say((f"{len(graph.undeclared)} undeclared read(s)/write(s): the DAG and freshness checks do not see "
             "them", "yellow"))
