"""The domain operations of the exchange, free of HTTP.

Each operation is a plain function ``op(db, caller, ...)`` that runs inside one
database transaction; :class:`~ngshare.server.service.runner.ServiceRunner` runs it in
a worker thread and commits once.
"""
