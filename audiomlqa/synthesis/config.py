"""A synthesis run's settings: :class:`SynthesisConfig` (a recipe is this as YAML), its defaults, and the
calibrated threshold rule (:class:`CalibrationRule`).

Validation reads no file. :func:`load_synthesis_config` layers a recipe, command-line options and ``key=value``
overrides; :func:`resolve_calibration` is the one place where a config reads its calibration file and checks it
against the judge. The shard helpers say which questions a shard of a multi-machine run takes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from audiomlqa.asr import ASRSettings, FasterWhisperSettings
from audiomlqa.asr.text import DEFAULT_METRIC
from audiomlqa.config import Integer, Language, Number, Settings, as_validator, load_yaml, parse, with_overrides
from audiomlqa.errors import AudioMLQAError
from audiomlqa.instructions import InstructionColumns
from audiomlqa.languages import parse_pair
from audiomlqa.manifest import ThresholdRule
from audiomlqa.sources import PACKAGED_SAMPLE
from audiomlqa.synthesis.calibration import (
    DEFAULT_QUANTILE,
    DEFAULT_SCALE,
    calibrated_thresholds,
    comparable_asr_settings,
    judge_name,
    language_numbers,
    read_calibration,
    shipped_calibration,
)
from audiomlqa.synthesis.rules import DEFAULT_RULE, TokenModel
from audiomlqa.tasks import EXTRACTIVE_QA, INSTRUCTION, Task
from audiomlqa.tts import EspeakChoice, KokoroChoice, TTSChoice
from audiomlqa.utils.files import sha256_file

DEFAULT_OUTPUT = "audio-mlqa-sample"
DEFAULT_THRESHOLDS = {"en": 0.2, "de": 0.2, "es": 0.2, "hi": 0.35, "zh": 0.35, "ar": 0.6, "vi": 0.7, "id": 0.2}
"""WER (en, de, es, vi) or CER (hi, zh, ar) at or below which a clip is accepted without a calibration. ar and vi
are relaxed: the default judge cannot check them (see DEFAULT_VERIFICATION), so the filter only catches gross
failures."""
DEFAULT_ASR = {"backend": "faster-whisper", "beam_sizes": {"de": 5, "hi": 5}}
"""Greedy decoding, except beam 5 where it measurably helps Whisper base: on the packaged sample's
Kokoro clips it doubled the clips that pass (de 1 → 5 of 28, hi 2 → 6 of 26)."""
DEFAULT_VERIFICATION = {
    "en": (True, "Whisper base's median WER on 10 native FLEURS readings (en_us) is 0.077 (≤ 0.35)"),
    "de": (True, "Whisper base's median WER on 10 native FLEURS readings (de_de) is 0.137 (≤ 0.35)"),
    "es": (True, "Whisper base's median WER on 10 native FLEURS readings (es_419) is 0.112 (≤ 0.35)"),
    "hi": (
        False,
        "Whisper base cannot verify hi: its median CER on 10 real Hindi news readings (All India Radio) was 0.86 "
        "(> 0.35)",
    ),
    "zh": (False, "no human Mandarin speech measured with Whisper base: calibrate (FLEURS cmn_hans_cn) to verify zh"),
    "ar": (False, "no human Arabic speech measured with Whisper base: calibrate (FLEURS ar_eg) to verify ar"),
    "vi": (False, "no human Vietnamese speech measured with Whisper base: calibrate (FLEURS vi_vn) to verify vi"),
    "id": (False, "no human Indonesian speech measured with Whisper base: calibrate (FLEURS id_id) to verify id"),
}
"""Without a calibration of the judge (``calibrate``), whether the default judge (Whisper base) can verify each
language, and the evidence: en, de and es measured on the shared FLEURS clips (the packaged calibration
:data:`SHIPPED_CALIBRATION` holds those measurements), hi on human Hindi speech outside this repository; zh, ar and
vi have no human reference here and are unverified until one is measured. Another judge has no evidence at all."""


class CalibrationRule(Settings):
    """Thresholds from ``audiomlqa calibrate``: per calibrated language, the ``rule``
    (:mod:`audiomlqa.synthesis.rules`) applied to the ASR's errors on human speech: ``per-token`` (the default: a
    clip of n tokens may have as many errors as the ``quantile`` of the judge's human errors for n tokens) or
    ``per-clip`` (``scale`` × the ``quantile`` of the human clips' error rates); other languages keep their fixed
    threshold. The calibration also says whether the judge can verify each language.

    Validation reads no file: it only recomputes each recorded language's numbers from its recorded errors (so an
    override of ``rule``, ``quantile`` or ``scale`` takes effect). :meth:`loaded` reads the file's measurements in
    (``reference``, ``sha256``, ``asr_settings`` and each language's errors in ``languages``) — when there are none
    yet, or the file's checksum differs from the recorded one — so run.json records them and a resumed run must
    match them; :func:`resolve_calibration` is the one place that calls it."""

    file: str | None = None
    """The calibration file, or the name of the packaged one (:data:`SHIPPED_CALIBRATION`); it may move between a
    run and its resumption (the record keeps its numbers)."""
    rule: Literal["per-token", "per-clip"] = DEFAULT_RULE
    quantile: Number = Field(DEFAULT_QUANTILE, gt=0, le=1)
    scale: Number = Field(DEFAULT_SCALE, gt=0)
    """Per-clip rule only: the multiple of the quantile that is the threshold."""
    reference: str = ""
    judge: str = ""
    """The judge the file measured, by name (verification reasons name it)."""
    sha256: str = ""
    asr_settings: dict = Field(default_factory=dict)
    languages: dict[Language, dict] = Field(default_factory=dict)
    """Language → the rule's numbers and the human-speech measurement behind them, errors and counts included."""

    @model_validator(mode="after")
    def _recompute(self) -> CalibrationRule:
        if self.file is None and not self.languages:
            raise ValueError("give the calibration file: calibration.file or --calibration FILE")
        try:
            self.languages = {
                lang: language_numbers(
                    e["errors"],
                    e["metric"],
                    self.quantile,
                    self.scale,
                    e.get("implausible"),
                    counts=e.get("counts"),
                    rule=self.rule,
                    lang=lang,
                    judge=self.judge or "the ASR",
                )
                for lang, e in self.languages.items()
            }
        except (KeyError, TypeError):
            raise ValueError("the recorded calibration is damaged: give the calibration file again") from None
        return self

    def loaded(self) -> CalibrationRule:
        """This rule with its file's measurements read in (itself when they are already the file's)."""
        path = shipped_calibration(self.file) if self.file is not None else None
        sha = sha256_file(path) if path is not None and Path(path).is_file() else None
        if self.languages and (sha is None or sha == self.sha256):
            return self
        if path is None:
            raise AudioMLQAError("give the calibration file: calibration.file or --calibration FILE")
        doc = read_calibration(path)
        return self.model_copy(
            update={
                "reference": doc["reference"]["name"],
                "judge": judge_name((doc.get("asr") or {}).get("model")),
                "sha256": sha or sha256_file(path),
                "asr_settings": doc["asr_settings"],
                "languages": calibrated_thresholds(doc, self.quantile, self.scale, self.rule),
            }
        )

    def threshold(self, lang: str, tokens: int | None = None) -> float | None:
        """``lang``'s threshold for a clip of ``tokens`` tokens (per-token rule: None without ``tokens``)."""
        c = self.languages[lang]
        if self.rule == "per-clip":
            return c["threshold"]
        if tokens is None:
            return None
        return self.model(lang).threshold(tokens, self.quantile, c["cap"])

    def model(self, lang: str) -> TokenModel:
        m, c = self.languages[lang]["model"], self.languages[lang]
        return TokenModel(m["rate"], m["dispersion"], c["n"], m["tokens"])

    def describe(self, lang: str) -> str:
        """The rule and numbers behind ``lang``'s threshold, in words (manifest rows, summary, card)."""
        c = self.languages[lang]
        implausible = f"; IMPLAUSIBLE: {c['implausible']}" if c.get("implausible") else ""
        human = f"median {c['median']:.3f}, p90 {c['p90']:.3f}"
        if self.rule == "per-clip":
            capped = f"; capped at {c['cap']:g}, the rule gave {_number(c['uncapped'])}" if c["capped"] else ""
            return (
                f"calibrated: {self.scale:g} × p{100 * self.quantile:g} of the ASR's {c['metric'].upper()} on "
                f"{c['n']} human clips ({self.reference}; {human}{capped}{implausible})"
            )
        model, unit = self.model(lang), "words" if c["metric"] == "wer" else "characters"
        examples = ", ".join(f"{n}: {model.max_errors(n, self.quantile)}" for n in (5, 10, 20))
        return (
            f"calibrated per token: at most the p{100 * self.quantile:g} of the ASR's errors on {c['n']} human clips "
            f"for the clip's length ({self.reference}; {model.rate:.3f} errors per {unit[:-1]}, dispersion "
            f"{model.dispersion:.3f}; errors allowed for {unit} {examples}; {human}; capped at {c['cap']:g}"
            f"{implausible})"
        )


def _number(value: float | None) -> str:
    return "∞" if value is None else f"{value:.3g}"


def _calibration_file(value):
    return {"file": value} if isinstance(value, (str, Path)) else value


def default_tts_map() -> dict[str, TTSChoice]:
    """The offline default: Kokoro-82M where it is intelligible to Whisper, eSpeak NG for ar and vi
    (Kokoro has no voice for them)."""
    kokoro = {lang: KokoroChoice(backend="kokoro") for lang in ("en", "de", "es", "hi", "zh")}
    return {"default": EspeakChoice(), **kokoro}


class SynthesisConfig(Settings):
    """Everything a synthesis run is made of; a recipe is this as YAML."""

    source: str = PACKAGED_SAMPLE
    source_lang: Annotated[str, BeforeValidator(as_validator(lambda v: (parse_pair(v), v)[1]))] | None = None
    """The language of a SQuAD file whose name does not say it: ``de``, or ``de-en`` (context de, question en)."""
    split: Literal["dev", "validation", "test"] = "dev"
    languages: list[Language] | None = None
    pairs: list[Annotated[str, BeforeValidator(as_validator(parse_pair))]] | None = None
    cross_lingual: bool = False
    per_language: Integer | None = Field(None, ge=1)
    seed: Integer = 0
    limit: Integer | None = Field(None, ge=1)
    """At most this many questions in all, the pairs taken in turn (:func:`audiomlqa.sources.take_in_turn`); like
    ``per_language``, chosen before ``shard``, so the shards of a run together speak exactly its selection."""
    output: str = DEFAULT_OUTPUT
    tts: dict[Language | Literal["default"], TTSChoice] = Field(default_factory=default_tts_map)
    """Language → choice, ``default`` for the rest; a recipe's map replaces this one as a whole."""
    unverified: list[Language] = Field(default_factory=list)
    """Languages to mark unverified whatever the evidence (the judge's verification comes from the calibration, or
    without one from :data:`DEFAULT_VERIFICATION`)."""
    rates: list[Number] = Field(default_factory=lambda: [1.0, 0.85], min_length=1)
    asr: ASRSettings = Field(default_factory=lambda: FasterWhisperSettings.model_validate(DEFAULT_ASR))
    metric: dict[Language, Literal["wer", "cer"]] = Field(default_factory=dict)
    thresholds: dict[Language, Number] = Field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    max_attempts: Integer = Field(3, ge=1)
    batch_size: Integer = Field(16, ge=1)
    workers: Integer = Field(1, ge=1)
    shard: tuple[int, int] = (0, 1)
    """(i, N): keep the selected questions whose ``sha256(pair:id) mod N`` is i (:func:`in_shard`)."""
    overlap: bool = True
    """Speak the next batch while the ASR judges this one (same clips, same rows; False: take turns)."""
    engine: Literal["local", "ray"] = "local"
    """``local``: TTS in ``workers`` processes here, the ASR in this process. ``ray``: ``workers`` TTS actors and
    the ASR actors (one per GPU) on a Ray cluster (:mod:`.on_ray`); the same rows either way."""
    ray_address: str = "local"
    """With ``engine: ray``: ``local`` starts a cluster on this machine; ``auto`` or ``ray://host:10001`` joins one."""
    calibration: Annotated[CalibrationRule, BeforeValidator(_calibration_file)] | None = None
    """A calibration file (``audiomlqa calibrate``), or ``{file, quantile, scale}``: thresholds from human speech."""
    task: Task = EXTRACTIVE_QA
    """What is spoken: MLQA-style questions (``source`` a SQuAD file, MLQA_V1 folder or dataset), or instructions
    (``instruction``: ``source`` an instruction set read with the ``instructions`` columns)."""
    instructions: InstructionColumns = Field(default_factory=InstructionColumns)
    """For ``task: instruction``: the source's columns, its language, and the longest instruction spoken."""

    RUNTIME_ONLY: ClassVar[tuple[str, ...]] = (
        "workers",
        "batch_size",
        "limit",
        "output",
        "overlap",
        "engine",
        "ray_address",
    )
    """Fields that may change between a run and its resumption without changing any result."""

    @model_validator(mode="after")
    def _task_settings(self) -> SynthesisConfig:
        if self.task == INSTRUCTION:
            if self.source == PACKAGED_SAMPLE:
                raise ValueError("task instruction needs its source: an instruction set (JSON, JSONL, dataset)")
            if self.pairs or self.cross_lingual or self.source_lang:
                raise ValueError("an instruction set has one language: set instructions.language, not pairs")
            if self.split == "dev":  # the default: an instruction set is an evaluation set, published as test
                self.split = "test"
        return self

    @field_validator("shard", mode="before")
    @classmethod
    def _shard(cls, value):
        if isinstance(value, str):
            try:
                return parse_shard(value)
            except AudioMLQAError as e:
                raise ValueError(str(e)) from None
        if isinstance(value, (list, tuple)) and len(value) == 2:
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value) or not 0 <= value[0] < value[1]:
                raise ValueError(f"bad shard {value[0]}/{value[1]}: use i/N with 0 ≤ i < N")
        return value

    @field_validator("thresholds")
    @classmethod
    def _thresholds(cls, value):
        for lang, t in value.items():
            if t < 0:
                raise ValueError(f"threshold for {lang} must be non-negative, not {t}")
        return value

    @field_validator("rates")
    @classmethod
    def _rates(cls, value):
        if any(r <= 0 for r in value):
            raise ValueError("rates must be positive speed factors")
        return value

    def calibration_settings(self) -> dict:
        """The ASR settings a calibration of this run's judge must have been measured with."""
        return comparable_asr_settings(self.asr.model_dump(mode="json"))

    def calibration_problem(self) -> str | None:
        """Why the (loaded) calibration does not hold for this run: it only holds for the ASR judge and metrics it
        was measured with."""
        cal = self.calibration
        if cal is None:
            return None
        ours = self.calibration_settings()
        if ours != cal.asr_settings:
            return (
                f"{cal.file} was measured with ASR {json.dumps(cal.asr_settings)}, this run judges with "
                f"{json.dumps(ours)}: run audiomlqa calibrate with the same --recipe / --asr-model"
            )
        for lang, c in cal.languages.items():
            if c["metric"] != self.metric_for(lang):
                return (
                    f"{cal.file} measured {lang} by {c['metric'].upper()}, this run scores it by "
                    f"{self.metric_for(lang).upper()}: calibrate with the same metric"
                )
        return None

    @classmethod
    def from_dict(cls, data: dict, where: str | None = None) -> SynthesisConfig:
        return resolve_calibration(parse(cls, data, where), where)

    def tts_for(self, lang: str) -> TTSChoice:
        return self.tts.get(lang) or self.tts.get("default") or EspeakChoice()

    def metric_for(self, lang: str) -> str:
        return self.metric.get(lang, DEFAULT_METRIC[lang])

    def threshold_for(self, lang: str, tokens: int | None = None) -> float | None:
        """``lang``'s threshold for a clip of ``tokens`` tokens (a calibrated per-token rule needs ``tokens``)."""
        if self.calibration is not None and lang in self.calibration.languages:
            return self.calibration.threshold(lang, tokens)
        return self.thresholds.get(lang, DEFAULT_THRESHOLDS[lang])

    def verification(self, lang: str) -> tuple[bool, str]:
        """Whether the judge can verify ``lang``, and the evidence in words: the calibration's measurement, else the
        default judge's shipped evidence (another judge without a calibration has none)."""
        if lang in self.unverified:
            return False, f"{lang} is marked unverified in the settings (unverified: [{', '.join(self.unverified)}])"
        cal = self.calibration
        if cal is not None and lang in cal.languages:
            return cal.languages[lang]["verified"], cal.languages[lang]["verification"]
        if self.calibration_settings() == comparable_asr_settings(DEFAULT_ASR):
            return DEFAULT_VERIFICATION[lang]
        judge = judge_name(self.asr.model) if self.asr.model else "these ASR settings"
        return False, f"no human speech measured with {judge}: calibrate it to verify {lang}"

    def threshold_rule(self, lang: str) -> str:
        """Where ``lang``'s threshold comes from, in words (manifest rows carry this)."""
        return self.rule_for(lang).rule

    def rule_for(self, lang: str) -> ThresholdRule:
        """Where ``lang``'s threshold comes from, as run.json records it (a per-token rule has no one threshold)."""
        threshold, metric = self.threshold_for(lang), self.metric_for(lang)
        cal = self.calibration
        if cal is not None and lang in cal.languages:
            numbers = cal.languages[lang]
            return ThresholdRule(
                "calibrated",
                threshold,
                metric,
                cal.describe(lang),
                cal.quantile,
                cal.scale,
                numbers["n"],
                cal.reference,
                numbers["cap"],
                numbers["capped"],
                cal.rule,
            )
        why = "; no human reference speech for it in the calibration" if cal is not None else ""
        return ThresholdRule("fixed", threshold, metric, f"fixed: {threshold} ({metric.upper()}{why})")

    def fingerprint(self) -> dict:
        """The settings the results depend on (run.json's ``config``): a resumed run must have the same. A
        calibration file may move; its checksum and numbers may not change."""
        exclude: dict = dict.fromkeys(self.RUNTIME_ONLY, True)
        if self.calibration is not None:
            exclude["calibration"] = {"file"}
        return self.model_dump(mode="json", exclude=exclude)

    @property
    def suffix(self) -> str:
        i, n = self.shard
        return "" if n == 1 else f"-{i}-of-{n}"


def resolve_calibration(cfg: SynthesisConfig, where: str | None = None) -> SynthesisConfig:
    """``cfg`` with its calibration file read in and checked against its judge: the one place a config touches
    a file, after validation (which reads none)."""
    if cfg.calibration is None:
        return cfg
    prefix = f"{where}: calibration: " if where else "calibration: "
    try:
        cfg = cfg.model_copy(update={"calibration": cfg.calibration.loaded()})
    except AudioMLQAError as e:
        raise AudioMLQAError(prefix + str(e)) from None
    problem = cfg.calibration_problem()
    if problem:
        raise AudioMLQAError(prefix + problem)
    return cfg


def load_synthesis_config(
    recipe: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    tts: str | None = None,
    asr_model: str | None = None,
    **options,
) -> SynthesisConfig:
    """A recipe (or the defaults), then command-line options (None: not given), then ``key=value`` overrides.
    ``tts`` names one backend for every language; ``asr_model`` keeps the recipe's ASR settings but its model."""
    data = load_yaml(recipe) if recipe else {}
    data.update({k: v for k, v in options.items() if v is not None})
    if tts:
        data["tts"] = {"default": {"backend": tts}}
    if asr_model:
        asr = data.get("asr", DEFAULT_ASR)
        data["asr"] = {**(asr if isinstance(asr, dict) else {}), "model": asr_model}
    where = str(recipe) if recipe else None
    return resolve_calibration(with_overrides(SynthesisConfig, data, overrides, where), where)


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise AudioMLQAError(f"bad shard {text!r}: write i/N with 0 ≤ i < N, e.g. 0/4")
    return int(m.group(1)), int(m.group(2))


def in_shard(pair: str, qid: str, shard: tuple[int, int]) -> bool:
    i, n = shard
    return n == 1 or int(hashlib.sha256(f"{pair}:{qid}".encode()).hexdigest(), 16) % n == i
