"""What the server and its clients share: wire formats and the rules for names.

Nothing here imports any other part of ngshare, so the nbgrader plugin and
``ngsharectl`` can use it without the server.
"""
