"""ngshare: the nbgrader exchange as a JupyterHub service."""

__version__ = "1.0.0.dev0"
