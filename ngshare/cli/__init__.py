"""``ngsharectl``: ngshare's command line for admins and instructors.

It talks to a running ngshare server over HTTP through the client core
(:mod:`ngshare.client`, shared with the nbgrader plugin), authenticated by a
JupyterHub API token, so it works from anywhere the service is reachable: a
terminal in a single-user server, an admin's laptop, a cron job. It uses the
own API wherever one exists, and v1 for courses and rosters.

Modules, by concern: ``main`` (arguments), ``context`` (the connection, in
ngsharectl's words), ``errors`` (exit codes, and the client's errors as
ngsharectl says them), ``output`` (tables, JSON), one module per command
group (``courses``, ``roster``, ``assignments``, ``submissions``,
``feedback``, ``events``, ``deleted``, ``whoami``), and their helpers
(``roster_csv``, ``gradebook``, ``archive``, ``progress``, ``times``).
"""
