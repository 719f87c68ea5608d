"""The ``shopcrm`` command line (Typer): thin commands over the services."""
