"""Who is calling: JupyterHub tokens and OAuth cookies, static tokens, hub groups."""
