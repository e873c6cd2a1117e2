"""The `atelier` command line: main.py lists the commands, one module per command group does them."""
