"""Helpers shared by the test suites: servers, project builders, the CLI runner, test doubles."""
