"""audiomlqa: spoken multilingual question answering (Audio-MLQA) — synthesis, dataset, models, scoring."""

__version__ = "0.1.0"

LANGUAGES = ("en", "ar", "de", "es", "hi", "vi", "zh")
"""The seven MLQA languages, in MLQA's own order."""
