"""Running models on Audio-MLQA: specs and their placement, the runners, the shared prompt and answer
extraction, the run with its caches, the LLM judge, and the reports."""
