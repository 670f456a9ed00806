"""audiomlqa: spoken multilingual question answering (Audio-MLQA) — synthesis, dataset, models, scoring."""

from audiomlqa.languages import LANGUAGES

__version__ = "0.1.0"
__all__ = ["LANGUAGES", "__version__"]
