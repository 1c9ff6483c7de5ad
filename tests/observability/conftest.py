from tests.guarantees.conftest import make_cluster, own_redis, sink  # noqa: F401
