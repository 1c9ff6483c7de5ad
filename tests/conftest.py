"""The shared fixtures live in tests/fixtures.py and are loaded for the whole repo."""

from tests.fixtures import bus, keys, namespace, redis, redis_server, tmp_dir  # noqa: F401
