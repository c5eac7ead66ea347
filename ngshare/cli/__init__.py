"""``ngsharectl``: ngshare's command line for admins and instructors.

It talks to a running ngshare server over its v1 HTTP API, authenticated by
a JupyterHub API token, so it works from anywhere the service is reachable:
a terminal in a single-user server, an admin's laptop, a cron job.

Modules, by concern: ``main`` (arguments, exit codes), ``connection`` (URL
and token), ``client`` (HTTP), ``output`` (tables, JSON), one module per
command group (``courses``, ``roster``, ``assignments``, ``submissions``,
``feedback``), and their helpers (``roster_csv``, ``gradebook``,
``archive``, ``progress``, ``times``).
"""
