"""End-to-end tests: pyinit as the ENTRYPOINT of real containers on a real Docker engine."""
