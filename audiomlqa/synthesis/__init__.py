"""Spoken questions: the recipe (:mod:`.config`), the voices and attempts (:mod:`.speaking`), the TTS → ASR →
accept/retry/reject loop (:mod:`.pipeline`), its summary, the filter's calibration on human speech and its figures."""
