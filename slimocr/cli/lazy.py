"""The one place where the runtime CLI names the toolkit commands.

The toolkit commands (``slimocr train``, ``import``, ``quant``, ``zoo build``, …) live in
:mod:`slimocr.toolkit.cli`. They are listed here by name only, as ``"module:attribute"`` strings,
and imported when that command runs (or when ``--help`` lists it), so a runtime command such as
``slimocr ocr`` never imports ``slimocr.toolkit`` or torch. ``tests/unit/test_layout.py`` allows
this module, and no other runtime module, to name ``slimocr.toolkit``.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

from slimocr.cli.common import fail

# Click's Context and Command types are typed as Any here: typer 0.29 vendors click
# (``typer._click``, private) while older typer versions use the click package; only
# typer's public API is used, so either works.

# command path (space-separated for subcommands) -> "module:attribute" of a command function or
# a typer.Typer
TOOLKIT_COMMANDS: dict[str, str] = {
    "import": "slimocr.toolkit.cli.convert:import_cmd",
    "export": "slimocr.toolkit.cli.convert:export_cmd",
    "train": "slimocr.toolkit.cli.train:train_cmd",
    "quant": "slimocr.toolkit.cli.quant:quant_cmd",
    "quant-weights": "slimocr.toolkit.cli.quant:quant_weights_cmd",
    "sensitivity": "slimocr.toolkit.cli.prune:sensitivity_cmd",
    "prune": "slimocr.toolkit.cli.prune:prune_cmd",
    "synth": "slimocr.toolkit.cli.synth:synth_app",
    "zoo build": "slimocr.toolkit.cli.zoo_build:build_cmd",
}


class LazyGroup(TyperGroup):
    """A command group that adds the :data:`TOOLKIT_COMMANDS` under ``prefix`` on demand.

    Subclasses set ``prefix`` (``""`` for the top level, ``"zoo"`` for ``slimocr zoo``) and may
    set ``command_order``, the order in which ``--help`` lists the commands.
    """

    prefix: ClassVar[str] = ""
    command_order: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def lazy_commands(cls) -> dict[str, str]:
        """Name under this group -> ``"module:attribute"``."""
        head = f"{cls.prefix} " if cls.prefix else ""
        return {
            path[len(head) :]: target
            for path, target in TOOLKIT_COMMANDS.items()
            if path.startswith(head) and " " not in path[len(head) :]
        }

    def list_commands(self, ctx: Any) -> list[str]:
        names = [*super().list_commands(ctx)]
        names += [n for n in self.lazy_commands() if n not in names]
        rank = {n: i for i, n in enumerate(self.command_order)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        lazy = self.lazy_commands()
        if cmd_name not in self.commands and cmd_name in lazy:
            self.add_command(_load_command(cmd_name, lazy[cmd_name]), cmd_name)
        return super().get_command(ctx, cmd_name)


def _load_command(name: str, target: str) -> Any:
    """The click command for ``target`` (``"module:attribute"``), named ``name``."""
    module_name, attribute = target.split(":")
    try:
        obj = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        fail(f"`slimocr {name}` needs the training extra: pip install 'slimocr[train]' ({exc})")
    if isinstance(obj, typer.Typer):
        command: Any = typer.main.get_group(obj)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    return command
