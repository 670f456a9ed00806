"""Spoken questions: the recipe (:mod:`.config`), the voices and attempts (:mod:`.speaking`), the TTS → ASR →
accept/retry/reject loop (:mod:`.pipeline`), why a clip failed (:mod:`.alignment`), its summary (:mod:`.summary`),
the filter's calibration on human speech (:mod:`.reference` reads it, :mod:`.calibration` measures the judge on it,
:mod:`.rules` turns that into decisions) and the figures (:mod:`.figures`).

Callers outside this package import from here; the modules inside import from each other, never from here.
"""

from audiomlqa.sources import PACKAGED_SAMPLE
from audiomlqa.synthesis.calibration import calibration_table, read_calibration
from audiomlqa.synthesis.config import (
    DEFAULT_ASR,
    DEFAULT_OUTPUT,
    DEFAULT_THRESHOLDS,
    DEFAULT_VERIFICATION,
    CalibrationRule,
    SynthesisConfig,
    default_tts_map,
    in_shard,
    load_synthesis_config,
    parse_shard,
    resolve_calibration,
)
from audiomlqa.synthesis.figures import write_figures
from audiomlqa.synthesis.pipeline import (
    SynthesisResult,
    calibrate_filter,
    judge,
    next_attempt,
    safe_name,
    select_questions,
    synthesize,
)
from audiomlqa.synthesis.reference import Reference, read_reference
from audiomlqa.synthesis.speaking import AttemptPlan, plan_attempt, spoken_text
from audiomlqa.synthesis.summary import summarize, summary_table

__all__ = [
    "DEFAULT_ASR",
    "DEFAULT_OUTPUT",
    "DEFAULT_THRESHOLDS",
    "DEFAULT_VERIFICATION",
    "PACKAGED_SAMPLE",
    "AttemptPlan",
    "CalibrationRule",
    "Reference",
    "SynthesisConfig",
    "SynthesisResult",
    "calibrate_filter",
    "calibration_table",
    "default_tts_map",
    "in_shard",
    "judge",
    "load_synthesis_config",
    "next_attempt",
    "parse_shard",
    "plan_attempt",
    "read_calibration",
    "read_reference",
    "resolve_calibration",
    "safe_name",
    "select_questions",
    "spoken_text",
    "summarize",
    "summary_table",
    "synthesize",
    "write_figures",
]
