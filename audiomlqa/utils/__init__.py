"""Plumbing every stage shares: atomic files, one-writer locks, progress on stderr, result tables, package
versions, the process group of a multi-process job, and loading a backend class by name."""
