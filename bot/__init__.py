"""Wiring, channels, the web server and the `python -m bot` command line."""
