"""Old import site of the online-store readers, kept while serving/grpc_server.py and
bench/bench_serving.py still import these names from here.

The readers are the online-store backends of :mod:`content_signals.feature_repo.online_stores`
(which also write), the key format is :mod:`content_signals.storage_format`'s. Nothing is defined
here: once those two files import from the modules above, this one goes.
"""

from content_signals.feature_repo.online_stores import OnlineStore, RedisOnlineStore, SqliteOnlineStore
from content_signals.storage_format import entity_key

__all__ = ["OnlineStore", "RedisOnlineStore", "SqliteOnlineStore", "entity_key"]
