"""Subcommands of the `drgdip` CLI, one module per area; `engine.cli` assembles them."""
