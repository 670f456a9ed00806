"""Tiny randomly initialised models built from real configs: what the tests and the ``tiny-*`` model specs run
(never downloaded, built on first use and cached)."""
