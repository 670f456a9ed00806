"""The language-aware distilled Speech LLM: config, model, losses, data, training.

``from audiomlqa.speechllm import SpeechLLM, SpeechLLMConfig`` — ``SpeechLLM.from_pretrained(dir)``
loads a trained checkpoint; ``audiomlqa.speechllm.train.train`` trains one from a recipe.
"""

from audiomlqa.speechllm.config import SpeechLLMConfig
from audiomlqa.speechllm.model import SpeechLLM

__all__ = ["SpeechLLM", "SpeechLLMConfig"]
