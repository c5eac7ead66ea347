"""Packaging for ngshare.

The alembic migrations live in the top-level ``alembic/`` folder of the source
tree and are installed inside the package as ``ngshare/alembic``, so an
installed server can migrate its database without the source tree.
"""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="ngshare",
    version="1.0.0.dev0",
    description="nbgrader exchange as a JupyterHub service",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=[
        *find_packages(include=["ngshare", "ngshare.*"]),
        "ngshare.alembic",
        "ngshare.alembic.versions",
    ],
    package_dir={"ngshare.alembic": "alembic"},
    package_data={
        "ngshare.alembic": ["script.py.mako", "README"],
        "ngshare.alembic.versions": ["*.py"],
        "ngshare.server.handlers.pages": ["templates/*.html", "static/*"],
    },
    install_requires=[
        "tornado>=6.3",
        "SQLAlchemy>=2.0.20",
        "alembic>=1.12",
        "jupyterhub>=4.0",
        "traitlets>=5.9",
        "requests>=2.28",
        # /metrics (JupyterHub uses it too).
        "prometheus_client>=0.17",
        # Browser login state every replica can read (ngshare/oauth_state.py).
        "cryptography>=41",
        # ISA-L's deflate: gzip frames inflate ~2.5x and compress ~9x faster
        # than with zlib (docs/performance.md).
        "isal>=1.6",
        # The web pages' templates (as JupyterHub's).
        "jinja2>=3.1",
        # The progress bar of long operator commands (ngshare import-ngshare06).
        "tqdm>=4.66",
    ],
    extras_require={
        "postgresql": ["psycopg[binary]>=3.1"],
        # The S3 blob store (--blob-store=s3).
        "s3": ["boto3>=1.35"],
        "exchange": ["nbgrader>=0.9,<0.10"],
        "test": [
            "pytest>=8",
            "psycopg[binary]>=3.1",
            "boto3>=1.35",
            # A real S3 endpoint on loopback for the S3 store's tests (tests/s3_server.py).
            "moto[server]>=5",
            "nbgrader==0.9.6",
            "configurable-http-proxy>=0.4",
            "hypothesis>=6",
            "schemathesis>=4.32,<5",
            # Validates deploy/kubernetes against the Kubernetes schemas, offline.
            "kubernetes-validate>=1.30",
            "ruff>=0.6",
            "mypy>=1.10",
            "types-tqdm",
            # Drives Debian's chromium (never a downloaded browser) in the page tests.
            "playwright>=1.40",
        ],
        "docs": ["sphinx>=7", "myst-parser>=2"],
    },
    entry_points={
        "console_scripts": [
            "ngshare = ngshare.server.app:main",
            "ngsharectl = ngshare.cli.main:main",
        ]
    },
    classifiers=[
        "Framework :: Jupyter",
        "Programming Language :: Python :: 3",
    ],
)
