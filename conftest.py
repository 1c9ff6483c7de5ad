"""Fixtures shared by every test directory (tests/ and each service's tests/)."""

pytest_plugins = ["tests.fixtures"]
