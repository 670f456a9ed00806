"""The dataset card (README.md): a YAML header that declares every config, its data files and features (what
``load_dataset`` and the Hub read), then what a user needs to know, each section written from the runs' own
records: contents, figures, limitations, how the data was made, licences, what to cite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from audiomlqa import __version__
from audiomlqa.languages import language_key, pair_key
from audiomlqa.publish.parquet import features
from audiomlqa.publish.runs import REJECTED_CONFIG, SynthesisRun, public_command, public_path
from audiomlqa.synthesis.rules import TokenModel
from audiomlqa.tasks import INSTRUCTION, parse_config
from audiomlqa.utils.files import read_json

_DATASET_LICENSE = "cc-by-sa-3.0"


def dataset_card(
    layout: dict,
    stats: dict,
    runs: Sequence[SynthesisRun],
    command: str | None,
    figures: Sequence[str] = (),
    name: str = "PATH_OR_REPO_ID",
) -> str:
    """README.md: YAML header (configs, data files, features, the Hub's standard metadata) for ``load_dataset``,
    then the facts a user needs: counts, pass and error rates, figures, the columns, the limits of the data
    (generated from the runs' records), how it was made, under which licences, and what to cite. ``name`` is what
    ``load_dataset`` is given in the examples: the Hub repo id when the dataset is pushed, else the folder.

    The ``rejected`` config (``publish --include-rejected``) is not a benchmark config: the header declares only
    the benchmark's, so ``get_dataset_config_names`` (and every harness that loops over it) never scores it; its
    files are loaded by path (:func:`rejected_data_files`)."""
    configs = sorted((c for c in layout if c != REJECTED_CONFIG), key=pair_key)
    sections = [
        _card_header(layout, configs, runs),
        _card_intro(layout, configs, name),
        _card_contents(stats, layout, name),
        _card_fields(),
        _card_instructions(runs),
        _card_figures(figures),
        _card_limitations(stats, runs),
        _card_how_made(runs, command),
        _card_licences(stats),
        _card_citation(runs),
    ]
    return "\n".join(line for section in sections for line in section)


def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def _card_header(layout: dict, configs: list[str], runs: Sequence[SynthesisRun]) -> list[str]:
    import yaml

    feats = features()
    benchmark = configs
    languages = sorted({x for c in benchmark for x in parse_config(c).pair}, key=language_key)
    examples = sum(info["num_examples"] for c in benchmark for info in layout[c].values())
    instructions = any(parse_config(c).task == INSTRUCTION for c in benchmark)
    only_instructions = all(parse_config(c).task == INSTRUCTION for c in benchmark)
    from_mlqa = all(run.record.source_lang is None for run in runs) and not instructions
    header = {
        "pretty_name": "Audio-MLQA" if not only_instructions else "Spoken instructions (audiomlqa)",
        "license": _DATASET_LICENSE if not instructions else "other",
        "language": languages,
        "annotations_creators": ["crowdsourced"],
        "language_creators": ["crowdsourced", "machine-generated"],
        "multilinguality": ["multilingual" if len(languages) > 1 else "monolingual"],
        "size_categories": [_size_category(examples)],
        "source_datasets": ["extended|mlqa" if from_mlqa else "extended|other"],
        "task_categories": (["question-answering"] if not only_instructions else [])
        + (["text-generation"] if instructions else []),
        "task_ids": ["extractive-qa"] if not only_instructions else [],
        "tags": ["audio", "speech", "synthetic-speech"]
        + (["spoken-question-answering", "mlqa"] if not only_instructions else [])
        + (["spoken-instruction-following"] if instructions else []),
        "configs": [
            {
                "config_name": c,
                "data_files": [{"split": s, "path": layout[c][s]["path"]} for s in sorted(layout[c])],
                **({"default": True} if i == 0 else {}),
            }
            for i, c in enumerate(configs)
        ],
        "dataset_info": [
            {
                "config_name": c,
                "features": feats._to_yaml_list(),
                "splits": [
                    {"name": s, "num_examples": layout[c][s]["num_examples"], "num_bytes": layout[c][s]["num_bytes"]}
                    for s in sorted(layout[c])
                ],
            }
            for c in configs
        ],
    }
    return ["---", yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]


def _card_intro(layout: dict, configs: list[str], name: str) -> list[str]:
    if all(parse_config(c).task == INSTRUCTION for c in configs):
        return _instructions_intro(layout, configs, name)
    return [
        "# Audio-MLQA",
        "",
        "MLQA (Lewis et al., 2020) with **spoken questions**: every question was synthesized with text-to-speech and "
        "kept only if an ASR round trip (Whisper) heard what was written. Contexts and answers stay text. "
        f"Made with audiomlqa {__version__}.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{name}", "{configs[0]}", split="{sorted(layout[configs[0]])[0]}")',
        'ds[0]["audio"]["array"], ds[0]["question"], ds[0]["answers"]',
        "```",
        "",
        "Configs are (context, question) language pairs: `de` is German context with a German question, "
        "`de-en` German context with an English question. Splits follow MLQA (`validation` = dev, `test`). "
        f"Score answers with MLQA's official metric: `audiomlqa score predictions/ --dataset {name}` "
        "(`pip install 'audiomlqa[hf]'`: the `hf` extra reads the dataset).",
        "",
    ]


def _instructions_intro(layout: dict, configs: list[str], name: str) -> list[str]:
    return [
        "# Spoken instructions",
        "",
        "Instructions to follow, **spoken**: each was synthesized with text-to-speech and kept only if an ASR round "
        "trip (Whisper) heard what was written. `question` is the written instruction, `reference` the reference "
        "response a judge compares answers with, `audio` the spoken instruction. "
        f"Made with audiomlqa {__version__}.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{name}", "{configs[0]}", split="{sorted(layout[configs[0]])[0]}")',
        'ds[0]["audio"]["array"], ds[0]["question"], ds[0]["reference"]',
        "```",
        "",
        "Configs are `instruct-<language>`. Models answer freely and a judge scores each answer 0–5 against the "
        f"reference: `audiomlqa score MODEL.json --dataset {name} --configs instruct-en --split test "
        "--judge JUDGE.json`. The instructions keep their source's licence (AlpacaEval's data: CC BY-NC 4.0).",
        "",
    ]


def _card_instructions(runs: Sequence[SynthesisRun]) -> list[str]:
    """What each instruction source held, what was spoken and what no voice could speak (and why)."""
    seen, lines = set(), []
    for run in runs:
        path = run.directory / f"left-out{run.suffix}.json"
        if not path.is_file():
            continue
        doc = read_json(path)
        key = (doc.get("label"), doc.get("sha256"))
        if key in seen or not isinstance(doc, dict):
            continue
        seen.add(key)
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(doc.get("left_out", {}).items())) or "none"
        spoken = doc.get("total", 0) - sum(doc.get("left_out", {}).values())
        lines.append(
            f"- `{public_path(str(doc.get('label', '?')))}`: {doc.get('total', '?')} instructions, {spoken} "
            f"speakable; left out unspoken (a voice would read them as symbols): {reasons}."
        )
    if not lines:
        return []
    return ["", "## What was spoken", "", *lines]


def _card_contents(stats: dict, layout: dict, name: str) -> list[str]:
    lines = [
        "## Contents",
        "",
        "| pair | split | questions | kept | pass rate | metric | median error | audio hours | verified "
        "| TTS (licence) |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for s in stats.values():
        med = "—" if s["median_error"] is None else f"{s['median_error']:.3f}"
        lines.append(
            f"| {s['pair']} | {s['split']} | {s['attempted']} | {s['accepted']} | {100 * s['pass_rate']:.1f}% | "
            f"{s['metric'].upper()} | {med} | {s['audio_hours']:.3f} | {'yes' if s['verified'] else '**no**'} | "
            f"{', '.join(s['tts']) or '—'} |"
        )
    if REJECTED_CONFIG in layout:
        lines += [
            "",
            f"The questions that failed the filter (their best attempt) are in `data/{REJECTED_CONFIG}/`, for "
            "analysis. They are not part of the benchmark, so the header does not declare them as a config (a "
            "harness that loops over the configs never scores them); load them by path:",
            "",
            "```python",
            f'rejected = load_dataset("{name}", data_files={json.dumps(rejected_data_files(layout))})',
            "```",
        ]
    return lines


def rejected_data_files(layout: dict) -> dict[str, str]:
    """``data_files`` for ``load_dataset`` that read the rejected questions, split by split (the card declares no
    ``rejected`` config)."""
    return {split: info["path"] for split, info in sorted(layout.get(REJECTED_CONFIG, {}).items())}


FIELD_DOCS = {
    "id": "MLQA's question id (a question and its translations share it); an instruction's id in its set",
    "title": "Title of the Wikipedia article the context comes from (an instruction set: its subset)",
    "context": "The paragraph that holds the answer, as text (empty for an instruction)",
    "question": "The question as written (an instruction: the instruction)",
    "answers": "MLQA's gold answers: their texts and character offsets in `context` (empty for an instruction)",
    "task": "`extractive-qa` (MLQA) or `instruction`",
    "reference": "An instruction's reference response, which a judge compares answers with (null for MLQA)",
    "audio": "The spoken question: FLAC, 16 kHz mono, loudness-normalised",
    "context_lang": "Language of the context (ISO 639-1)",
    "question_lang": "Language of the question, and of its audio",
    "spoken_text": "The text the TTS was given (the question with whitespace collapsed and escapes removed)",
    "duration": "Length of the clip in seconds",
    "tts_backend": "The TTS engine (kokoro, espeak, mms, coqui)",
    "tts_voice": "The voice (or local checkpoint, named not located) that spoke the clip",
    "tts_seed": "The seed of this attempt's synthesis",
    "tts_rate": "The speaking rate the TTS was asked for (1.0: the voice's own)",
    "tts_license": "Licence of the TTS model or voice: the audio's terms may add to MLQA's",
    "asr_model": "The ASR model that judged the clip (the round-trip filter)",
    "asr_transcript": "What the ASR heard: provenance of the filter's decision, not a benchmark input",
    "error_metric": "`wer` or `cer` (Chinese): how `error_rate` was counted",
    "error_rate": "The clip's ASR round-trip error: `asr_transcript` against `spoken_text`, both normalised",
    "threshold": "The error this clip had to stay under (its language's rule, which the card states)",
    "verified": "False where the ASR cannot verify the language: then the decision does not measure intelligibility",
    "accepted": "Whether the clip passed the filter (false only in the rejected files)",
    "attempt": "Which try at the question this clip was: 0, 1, … (it picks the voice, rate and seed)",
}
"""What each column of :func:`~audiomlqa.publish.parquet.features` holds: the card's Data Fields section lists the
columns from ``features()`` itself, so a column without a line here is caught by the tests, not shipped blank."""


def _feature_type(feature) -> str:
    """A feature as the card shows its type: ``string``, ``list of int32``, ``{text: list of string, …}``."""
    if isinstance(feature, dict):
        return "{" + ", ".join(f"{k}: {_feature_type(v)}" for k, v in feature.items()) + "}"
    if type(feature).__name__ in ("List", "Sequence", "LargeList"):
        return f"list of {_feature_type(feature.feature)}"
    if type(feature).__name__ == "Audio":
        return f"audio ({feature.sampling_rate} Hz)"
    return str(getattr(feature, "dtype", type(feature).__name__))


def _card_fields() -> list[str]:
    """Every column, its type and what it holds, from the features the parquet files are written with."""
    lines = ["", "## Data Fields", "", "| column | type | what it holds |", "|---|---|---|"]
    for column, feature in features().items():
        lines.append(f"| `{column}` | {_feature_type(feature)} | {FIELD_DOCS.get(column, '')} |")
    return lines


def _card_figures(figures: Sequence[str]) -> list[str]:
    if not figures:
        return []
    captions = {
        "errors": "ASR round-trip error of each question's kept (or best) clip per question language, beside the "
        "ASR's error on human speech where the filter was calibrated; the dashed line is the threshold.",
        "pass-rate": "Share of questions kept and attempts made per question, per pair.",
    }
    lines = ["", "## Figures", ""]
    for f in figures:
        caption = captions.get(Path(f).stem, Path(f).stem)
        lines += [f"![{caption}]({f})", "", f"*{caption}*", ""]
    return lines


def _card_limitations(stats: dict, runs: Sequence[SynthesisRun]) -> list[str]:
    """What the data cannot tell, from what the runs recorded: voices, the ASR judge and its thresholds, what
    the filter leaves out."""
    lines = ["", "## Limitations", ""]
    voices: dict[str, set[str]] = {}
    for run in runs:
        for lang, info in run.record.tts.items():
            origin = info.get("voice_origin") or f"{info.get('backend')} (its voices' origin was not recorded)"
            names = ", ".join(public_path(v) for v in info.get("voices") or ["—"])
            voices.setdefault(lang, set()).add(f"{origin}; voices {names}")
    lines += [
        "- **Synthetic voices, not people.** Every question is read by a TTS voice at normalised loudness, "
        "without noise or reverberation: results need not transfer to human, spontaneous or noisy speech."
    ]
    lines += [
        f"  - {lang}: {'; '.join(sorted(v))}." for lang, v in sorted(voices.items(), key=lambda kv: language_key(kv[0]))
    ]
    lines += _limitations_judge(runs)
    unverified = sorted((s["pair"] for s in stats.values() if not s["verified"]), key=pair_key)
    if unverified:
        evidence = {s["pair"].split("-")[-1]: s.get("verification") for s in stats.values() if not s["verified"]}
        lines.append(
            f"- **Unverified: {', '.join(unverified)}.** The ASR judge cannot verify these question languages, so "
            "their clips' decisions (`verified: false`) do not measure intelligibility; listen before relying on them. "
            + " ".join(f"{lang}: {why or 'no evidence recorded'}." for lang, why in sorted(evidence.items()))
        )
    names = sum(s.get("rejected_for_names", 0) for s in stats.values())
    rejected = sum(s.get("attempted", 0) - s.get("accepted", 0) for s in stats.values())
    if names:
        lines.append(
            f"- **Names.** {names} of the {rejected} rejected questions were turned away only by the judge's misses "
            "on names and foreign words (capitalised words inside a sentence; in German every noun; Latin-script "
            "words in hi, zh, ar): without them they would have been kept. Each row's `alignment` says what was "
            "missed."
        )
    rates = sorted(((s["pass_rate"], s["pair"]) for s in stats.values()), key=lambda t: t[0])
    if rates:
        lines.append(
            "- **Selection by the filter.** Only questions whose clip passed are in the benchmark, from "
            f"{100 * rates[0][0]:.0f}% of the questions asked ({rates[0][1]}) to {100 * rates[-1][0]:.0f}% "
            f"({rates[-1][1]}): where few pass, questions that are hard to speak or to transcribe (names, numbers, "
            "foreign words) are under-represented, and scores are not directly comparable "
            "with text MLQA's. `publish --include-rejected` adds the rest (in `data/rejected/`, outside the benchmark)."
        )
    per_token = any(t.method == "per-token" for run in runs for t in run.record.thresholds.values())
    lines.append(
        "- **Short questions.** A question has a few words, so one misheard word moves its WER by a large step; the "
        "error of a clip is a coarse measure of its quality."
        + (
            " Where the rule is per token, a clip may have as many errors as human readings of its length have "
            "(so a short question may lose a word), not one rate for every length."
            if per_token
            else " One threshold for every length is harsh on short questions: calibrating the judge "
            "(`audiomlqa calibrate`) gives the per-token rule, which allows errors by length."
        )
    )
    return lines


def _limitations_judge(runs: Sequence[SynthesisRun]) -> list[str]:
    models = sorted({public_path((run.record.asr or {}).get("model", "?")) for run in runs})
    thresholds: dict[str, str] = {}
    for run in runs:
        for lang, t in run.record.thresholds.items():
            thresholds.setdefault(lang, t.rule)
    lines = [
        f"- **The judge is an ASR model ({', '.join(models)}).** A clip was kept when its error was at most its "
        "language's threshold: "
        + "; ".join(f"{lang} {rule}" for lang, rule in sorted(thresholds.items(), key=lambda kv: language_key(kv[0])))
        + "."
    ]
    calibrated = {
        lang: (e, _calibration(run))
        for run in runs
        for lang, e in (_calibration(run).get("languages") or {}).items()
        if run.record.thresholds.get(lang) is not None and run.record.thresholds[lang].kind == "calibrated"
    }
    lines += _calibrated_lines(runs, calibrated)
    files = {_calibration(run).get("sha256") for run in runs if _calibration(run)}
    if len(files) > 1 or (files and any(not _calibration(run) for run in runs)):
        lines.append(
            f"  - **The merged runs were judged under {len(files)} different calibration(s)"
            + (" and some under none" if any(not _calibration(run) for run in runs) else "")
            + ":** the numbers above are one run's; each row's `threshold` column is its own."
        )
    uncalibrated = sorted(set(thresholds) - set(calibrated), key=language_key)
    if uncalibrated:
        lines.append(
            f"  - Not measured on human speech: {', '.join(uncalibrated)}. A question rejected there may be as "
            "intelligible as a person reading it; `audiomlqa calibrate` measures the judge on real speech."
        )
    return lines


def _calibrated_lines(runs: Sequence[SynthesisRun], calibrated: dict[str, tuple[dict, dict]]) -> list[str]:
    """The judge on human speech, per calibrated language: its error, the human readings its threshold keeps, the
    threshold (and its cap when it was capped); in bold, the languages whose calibration is implausible."""
    if not calibrated:
        return []
    reference = next(_calibration(run).get("reference") for run in runs if _calibration(run))
    ordered = sorted(calibrated.items(), key=lambda kv: language_key(kv[0]))
    lines = [
        f"  - Its error on human speech ({reference}), the share of those human readings the threshold would keep "
        "(each judged at a threshold calibrated on the others), and the threshold: "
        + "; ".join(
            f"{lang} median {e['median']:.3f} over {e['n']} clips, "
            + ("—" if e.get("leave_one_out_acceptance") is None else f"{100 * e['leave_one_out_acceptance']:.0f}%")
            + f" kept, {_calibrated_threshold(e, cal)}"
            for lang, (e, cal) in ordered
        )
        + "."
    ]
    implausible = [(lang, e["implausible"]) for lang, (e, _) in ordered if e.get("implausible")]
    if implausible:
        lines.append(
            "  - **The calibration of "
            + ", ".join(f"{lang} ({why})" for lang, why in implausible)
            + " is implausible for a working judge: the reference's transcripts may not match its audio, or the "
            "ASR cannot hear the language. It was kept on request (`calibrate --allow-implausible`); the "
            "threshold it gives says little about the clips' intelligibility.**"
        )
    return lines


def _calibrated_threshold(e: dict, cal: dict) -> str:
    """``threshold 0.13``, or ``threshold 0.60 (capped; the human p90 × 1 was 1.86)``, or for the per-token rule
    the errors it allows by length."""
    if e.get("rule") == "per-token" and isinstance(e.get("model"), dict):
        m, q = e["model"], cal.get("quantile", 0.9)
        model = TokenModel(m["rate"], m["dispersion"], e.get("n", 0), m.get("tokens", 0))
        unit = "word" if e.get("metric") == "wer" else "character"
        allowed = ", ".join(f"{model.max_errors(n, q)} in {n}" for n in (5, 10, 20))
        return f"per-token rule ({m['rate']:.3f} errors per {unit}; errors allowed: {allowed} {unit}s)"
    threshold = f"threshold {e['threshold']:.2f}" if isinstance(e.get("threshold"), (int, float)) else "threshold ?"
    if not e.get("capped"):
        return threshold
    rule = f"p{100 * cal.get('quantile', 0.9):g} × {cal.get('scale', 1):g}"
    was = "unbounded" if e.get("uncapped") is None else f"{e['uncapped']:.2f}"
    return f"{threshold} (capped; the human {rule} was {was})"


_CITATIONS = {
    "mlqa": """@inproceedings{lewis2020mlqa,
  title = {{MLQA}: Evaluating Cross-lingual Extractive Question Answering},
  author = {Lewis, Patrick and O{\\u{g}}uz, Barlas and Rinott, Ruty and Riedel, Sebastian and Schwenk, Holger},
  booktitle = {Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics},
  pages = {7315--7330},
  year = {2020},
  publisher = {Association for Computational Linguistics},
  address = {Online},
  doi = {10.18653/v1/2020.acl-main.653},
  url = {https://aclanthology.org/2020.acl-main.653}
}""",
    "fleurs": """@inproceedings{conneau2023fleurs,
  title = {{FLEURS}: Few-shot Learning Evaluation of Universal Representations of Speech},
  author = {Conneau, Alexis and Ma, Min and Khanuja, Simran and Zhang, Yu and Axelrod, Vera and Dalmia, Siddharth
            and Riesa, Jason and Rivera, Clara and Bapna, Ankur},
  booktitle = {2022 IEEE Spoken Language Technology Workshop (SLT)},
  pages = {798--805},
  year = {2023}
}""",
    "audio-mlqa": """@misc{gopal2026languageaware,
  title = {Language-Aware Distillation for Multilingual Instruction-Following Speech {LLMs} with {ASR}-Only
           Supervision},
  author = {Gopal and others},
  year = {2026},
  note = {introduces Audio-MLQA; this dataset follows its construction with the open audiomlqa toolkit}
}""",
    "audiomlqa": f"""@software{{audiomlqa,
  title = {{audiomlqa: spoken multilingual question answering (Audio-MLQA)}},
  author = {{{{The audiomlqa authors}}}},
  version = {{{__version__}}},
  year = {{2026}},
  license = {{Apache-2.0}},
  url = {{https://github.com/audiomlqa/audiomlqa}}
}}""",
}
"""Every work the card cites, in full (CITATION.cff holds the same for the toolkit)."""


def _card_citation(runs: Sequence[SynthesisRun]) -> list[str]:
    keys = ["mlqa", "audio-mlqa", "audiomlqa"]
    if any("fleurs" in str(_calibration(run).get("reference", "")).lower() for run in runs):
        keys.insert(1, "fleurs")
    return [
        "",
        "## Citation",
        "",
        "Cite MLQA for the text, the work this dataset follows, and audiomlqa, which made it"
        + (" (and FLEURS, whose human speech calibrated the filter)" if "fleurs" in keys else "")
        + ":",
        "",
        "```bibtex",
        "\n\n".join(_CITATIONS[k] for k in keys),
        "```",
        "",
    ]


def _card_how_made(runs: Sequence[SynthesisRun], command: str | None) -> list[str]:
    lines = ["", "## How it was made", ""]
    command = public_command(command)
    if command:
        lines += ["Published with:", "", "```bash", command, "```", ""]
    lines += ["Synthesis runs (each row's `tts_*`, `asr_*`, `error_*` columns record its clip):", ""]
    lines += [_run_line(run) for run in runs]
    tts_engines: dict[str, set[str]] = {}
    for run in runs:
        for lang, info in run.record.tts.items():
            engine = f"{info.get('backend')}: {info.get('engine') or info.get('model') or ''}".strip(": ")
            tts_engines.setdefault(lang, set()).add(engine)
    if tts_engines:
        lines += [
            "",
            "TTS per question language: "
            + "; ".join(f"{k} — {', '.join(sorted(v))}" for k, v in sorted(tts_engines.items())),
        ]
    return lines


def _run_line(run: SynthesisRun) -> str:
    rec = run.record
    cmd = public_command(rec.command)
    asr = rec.asr or {}
    beams = "".join(f", {k} beam {v}" for k, v in sorted((asr.get("beam_sizes") or {}).items()))
    effective = {k: round(v.threshold, 4) for k, v in rec.thresholds.items() if v.threshold is not None}
    thresholds = json.dumps(effective or rec.config.get("thresholds", {}), sort_keys=True)
    packages = ", ".join(f"{k} {v}" for k, v in sorted(rec.packages.items()))
    return (
        f"- `{run.directory.name}/manifest{run.suffix}.jsonl` ({run.split}): "
        + (f"`{cmd}`; " if cmd else "")
        + f"audiomlqa {rec.audiomlqa_version}, Python {rec.python}; "
        f"ASR {public_path(asr.get('model', '?'))} ({asr.get('backend', '?')}, "
        f"beam {asr.get('beam_size', '?')}{beams}, temperature 0); "
        f"thresholds {thresholds}; packages {packages}"
    )


def _card_licences(stats: dict) -> list[str]:
    licences = sorted({t for s in stats.values() for t in s["tts"]})
    lines = [
        "",
        "## Licences",
        "",
        "- Text (contexts, questions, answers): MLQA, CC-BY-SA-3.0 (Lewis et al., 2020, "
        "*MLQA: Evaluating Cross-lingual "
        "Extractive Question Answering*). The dataset as a whole is CC-BY-SA-3.0.",
        "- Audio: synthesized by the TTS engines listed per row (`tts_license`); their terms may add to MLQA's: "
        + ("; ".join(licences) if licences else "none recorded")
        + ".",
        "- The ASR model only filtered the clips: its transcripts (`asr_transcript`) are provenance, "
        "not benchmark inputs.",
        "",
    ]
    if any("NC" in t for t in licences):
        lines.insert(
            -1, "- **Some audio comes from a non-commercial (NC) model: that part may not be used commercially.**"
        )
    return lines


def _calibration(run: SynthesisRun) -> dict:
    return run.record.calibration
