"""One format registry (mncost.render.formats): every command's --format choices come from it
and every renderer has a formatter for each choice its command offers."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from mncost.cli import COMMANDS, cli
from mncost.cli.common import format_option
from mncost.render.formats import FORMATS, REGISTRY, dispatch


def _format_choices():
    """(command path, its --format choices) for every command that has --format."""
    ctx = click.Context(cli)
    found = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        commands = ([(f"{name} {sub}", c) for sub, c in command.commands.items()]
                    if isinstance(command, click.Group) else [(name, command)])
        for path, cmd in commands:
            for param in cmd.params:
                if "--format" in getattr(param, "opts", ()):
                    found.append((path, tuple(param.type.choices)))
    return found


def test_every_format_choice_is_registered():
    choices = _format_choices()
    assert {path for path, _ in choices} >= {"analyze", "list", "sweep", "memory", "profile",
                                             "crosscheck"}
    # A choice outside the registry cannot reach a command: format_option refuses it when the
    # command is defined (so checking the choices found above against REGISTRY cannot fail).
    with pytest.raises(ValueError, match=r"\['yaml'\] are not in"):
        format_option(("json", "yaml"))
    assert FORMATS == ("table", "json", "csv", "markdown")
    assert [f.name for f in REGISTRY.values() if f.machine] == ["json", "csv", "jsonl"]


@pytest.mark.parametrize("argv", [
    # -f csv holds one view: each view of analyze in every format.
    *(("analyze", "v3-small", view) for view in ("--per-layer", "--stages", "--separable",
                                                 "--conventions")),
    ("sweep", "v1", "--alpha", "0.5,1.0", "--res", "128"),
    ("sweep", "v1", "--alpha", "0.5", "--per-layer"),
    ("memory", "v2", "--per-layer"),
    ("list",),
])
def test_every_offered_format_renders(argv):
    offered = dict(_format_choices())[argv[0]]
    for fmt in offered:
        result = CliRunner().invoke(cli, [*argv, "-f", fmt])
        assert result.exit_code == 0, (fmt, result.output)
        assert result.stdout.strip(), fmt


def test_dispatch_refuses_an_unknown_or_missing_format():
    assert dispatch({"json": lambda: "x"}, "json") == "x"
    with pytest.raises(ValueError, match="'csv'"):
        dispatch({"json": lambda: "x"}, "csv")
    with pytest.raises(ValueError, match="'yaml'"):
        dispatch({"yaml": lambda: "x"}, "yaml")
