"""The `signals` command line: one module per command group."""
