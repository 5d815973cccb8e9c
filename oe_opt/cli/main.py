"""Command-line interface ``oe-opt``: the command group; each command is a module of this room."""

from __future__ import annotations

import click

from oe_opt.cli import compare, network, objectives, publish, report, run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oe-opt")
def main() -> None:
    """Operating envelopes for flexible customers, verified with OpenDSS power flows."""


for _module in (run, compare, objectives, network, report, publish):
    main.add_command(_module.command)


if __name__ == "__main__":  # pragma: no cover
    main()
