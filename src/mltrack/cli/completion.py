"""``mltrack completion bash|zsh|fish``: the shell completion script (click writes it)."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL; load it from your shell's startup file.

    \b
    bash (~/.bashrc):                   eval "$(mltrack completion bash)"
    zsh (~/.zshrc):                     eval "$(mltrack completion zsh)"
    fish (~/.config/fish/config.fish):  mltrack completion fish | source
    """
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    assert completer is not None  # click ships all three SHELLS
    root = ctx.find_root().command
    click.echo(completer(root, {}, "mltrack", "_MLTRACK_COMPLETE").source(), nl=False)


COMMANDS = [completion]
