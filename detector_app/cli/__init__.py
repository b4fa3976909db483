"""Headless command line: ``detector-app <subcommand>``; with no subcommand it starts the GUI."""
