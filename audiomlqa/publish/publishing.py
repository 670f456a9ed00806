"""Synthesis outputs → a Hugging Face dataset that ``datasets.load_dataset`` opens with no script.

:func:`publish` merges one or more ``audiomlqa synthesize`` output directories (e.g. the shards of
a multi-machine run), keeps each question's standing attempt, and writes::

    DATASET_DIR/
      README.md                                  dataset card; its YAML header declares every config
      publish.json                               counts and sources, machine-readable
      data/<config>/<split>-00000-of-0000N.parquet   audio embedded (FLAC bytes), provenance columns

One config per (context, question) pair present (``de``, ``de-en``), with MLQA's splits
(``validation`` for dev, ``test``); with ``include_rejected`` the rejected questions go to one extra
config, ``rejected``, for analysis. Every check runs before anything is written, and the folder is
built beside the destination and renamed into place, so a failed publish leaves nothing half-written.
Rows are sorted and parquet is written with fixed settings: the same inputs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from audiomlqa import __version__
from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import language_key, pair_key, parse_pair
from audiomlqa.manifest import Attempt, RunRecord, clip_problem, read_manifest, standing_attempts
from audiomlqa.sources import HF_SPLIT, SPLITS
from audiomlqa.utils.files import inside, replace_dir, sha256_file, write_json, write_text

REJECTED_CONFIG = "rejected"
MAX_SHARD_BYTES = 256 << 20
"""Audio bytes per parquet file (the Hub's viewer and streaming work best well under 500 MB)."""
ROW_GROUP_SIZE = 100
MARKER = "publish.json"
_DATASET_LICENSE = "cc-by-sa-3.0"


def features():
    """The dataset's columns: MLQA's, the spoken question, and where every clip came from."""
    import datasets as hf

    return hf.Features(
        {
            "id": hf.Value("string"),
            "title": hf.Value("string"),
            "context": hf.Value("string"),
            "question": hf.Value("string"),
            "answers": {"text": hf.List(hf.Value("string")), "answer_start": hf.List(hf.Value("int32"))},
            "audio": hf.Audio(sampling_rate=16_000),
            "context_lang": hf.Value("string"),
            "question_lang": hf.Value("string"),
            "spoken_text": hf.Value("string"),
            "duration": hf.Value("float32"),
            "tts_backend": hf.Value("string"),
            "tts_voice": hf.Value("string"),
            "tts_seed": hf.Value("int64"),
            "tts_rate": hf.Value("float32"),
            "tts_license": hf.Value("string"),
            "asr_model": hf.Value("string"),
            "asr_transcript": hf.Value("string"),
            "error_metric": hf.Value("string"),
            "error_rate": hf.Value("float32"),
            "threshold": hf.Value("float32"),
            "verified": hf.Value("bool"),
            "accepted": hf.Value("bool"),
            "attempt": hf.Value("int32"),
        }
    )


PROVENANCE_COLUMNS = {
    "context_lang": "context_lang",
    "question_lang": "question_lang",
    "spoken_text": "spoken_text",
    "duration": "duration",
    "tts_backend": "backend",
    "tts_voice": "voice",
    "tts_seed": "seed",
    "tts_rate": "rate",
    "tts_license": "tts_license",
    "asr_model": "asr_model",
    "asr_transcript": "transcript",
    "error_metric": "metric",
    "error_rate": "error",
    "threshold": "threshold",
    "verified": "verified",
    "accepted": "accepted",
    "attempt": "attempt",
}
"""Published column → the :class:`~audiomlqa.manifest.Attempt` field it carries: the one mapping between the two."""


@dataclass
class SynthesisRun:
    """One run inside an output directory: ``manifest{suffix}.jsonl`` with its questions and run record."""

    directory: Path
    suffix: str
    record: RunRecord
    rows: list[Attempt]
    questions: dict[tuple[str, str], dict]

    @functools.cached_property
    def standing(self) -> dict[tuple[str, str], Attempt]:
        """Each of this run's questions' standing attempt (attempts outside its selection are left out)."""
        return {key: row for key, row in standing_attempts(self.rows).items() if key in self.questions}

    @property
    def split(self) -> str:
        return HF_SPLIT[SPLITS[self.record.split]]

    @property
    def name(self) -> str:
        return f"{self.directory}{'/manifest' + self.suffix if self.suffix else ''}"


def find_runs(outputs: Sequence[str | Path]) -> list[SynthesisRun]:
    """Every run in ``outputs`` (a directory may hold several shards' manifests)."""
    runs = []
    for out in map(Path, outputs):
        if not out.is_dir():
            raise AudioMLQAError(f"{out}: not a synthesis output directory (no such folder)")
        manifests = sorted(out.glob("manifest*.jsonl"))
        if not manifests:
            raise AudioMLQAError(f"{out}: no manifest*.jsonl; run `audiomlqa synthesize -o {out}` first")
        for manifest in manifests:
            suffix = manifest.name[len("manifest") : -len(".jsonl")]
            run_file, questions_file = out / f"run{suffix}.json", out / f"questions{suffix}.jsonl"
            for f in (run_file, questions_file):
                if not f.exists():
                    raise AudioMLQAError(
                        f"{out}: {manifest.name} has no {f.name} beside it; rerun the synthesis command to complete it"
                    )
            try:
                record = RunRecord.from_dict(json.loads(run_file.read_text(encoding="utf-8")))
                questions = {}
                for line in questions_file.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        q = json.loads(line)
                        questions[(q["pair"], q["id"])] = q
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise AudioMLQAError(
                    f"{out}: {run_file.name} or {questions_file.name} is damaged ({e.__class__.__name__}); "
                    "rerun synthesis"
                ) from None
            runs.append(SynthesisRun(out, suffix, record, read_manifest(manifest), questions))
    return runs


def _example(run: SynthesisRun, row: Attempt) -> dict:
    q = run.questions[row.key]
    answers = {
        "text": [a["text"] for a in q["answers"]],
        "answer_start": [int(a["answer_start"]) for a in q["answers"]],
    }
    return {
        "id": row.id,
        "title": q.get("title", ""),
        "context": q["context"],
        "question": q["question"],
        "answers": answers,
        "audio": {"path": Path(row.audio).name, "bytes": inside(run.directory, row.audio, "audio path").read_bytes()},
        **{column: getattr(row, field) for column, field in PROVENANCE_COLUMNS.items()},
        # a local checkpoint (an MMS voice, a Whisper folder) is named, not located
        "tts_voice": public_path(row.voice),
        "asr_model": public_path(row.asr_model),
    }


@dataclass
class Selected:
    """A standing attempt chosen for the dataset, with where it came from."""

    config: str
    split: str
    run: SynthesisRun
    row: Attempt


def select_rows(runs: Sequence[SynthesisRun], include_rejected: bool = False) -> list[Selected]:
    """Each question's standing attempt, checked: one run per question, audio present. Raises with the
    first offenders before anything is read or written."""
    chosen: dict[tuple[str, str, str], Selected] = {}
    duplicates, missing = [], []
    for run in runs:
        for (pair, qid), row in run.standing.items():
            if row.accepted:
                config = pair
            elif include_rejected:
                config = REJECTED_CONFIG
            else:
                continue
            key = (run.split, pair, qid)
            if key in chosen:
                duplicates.append(f"{pair}/{qid} ({chosen[key].run.name} and {run.name})")
                continue
            problem = "no audio" if not row.audio else clip_problem(run.directory, row)
            if problem:
                missing.append(f"{pair}/{qid} ({problem})")
                continue
            chosen[key] = Selected(config, run.split, run, row)
    if duplicates:
        raise AudioMLQAError(
            f"{len(duplicates)} question(s) appear in more than one run, e.g. {'; '.join(duplicates[:3])}: "
            "publish each shard once (outputs of the same run twice?)"
        )
    if missing:
        raise AudioMLQAError(
            f"{len(missing)} clip(s) to publish are missing or damaged, e.g. {'; '.join(missing[:3])}: "
            "rerun the synthesis command on that output to redo them"
        )
    return sorted(chosen.values(), key=lambda s: (s.config, s.split, pair_key(s.row.pair), s.row.id))


@dataclass
class PublishResult:
    directory: Path
    configs: dict[str, dict[str, int]]  # config -> split -> rows
    files: list[Path]


def publish(
    outputs: Sequence[str | Path],
    to: str | Path,
    *,
    include_rejected: bool = False,
    overwrite: bool = False,
    push_to_hub: str | None = None,
    private: bool = False,
    command: str | None = None,
) -> PublishResult:
    """Merge synthesis ``outputs`` into a dataset folder ``to``.

    A new or empty ``to`` is built beside it and renamed into place. Over an earlier publish (``overwrite``),
    only the files that publish wrote are replaced or removed: anything else in the folder (a ``.git/``, notes)
    is left alone, and a file of ours that was edited since is refused rather than overwritten.
    """
    from audiomlqa.utils.locks import exclusive

    to = Path(to).resolve()
    with exclusive(to.parent, "audiomlqa publish", lock_file=to.with_name(f".{to.name}.lock")):
        earlier = _earlier_publish(to, overwrite)
        runs = find_runs(outputs)
        selected = select_rows(runs, include_rejected)
        if not any(s.config != REJECTED_CONFIG for s in selected):
            raise AudioMLQAError(f"no accepted questions in {', '.join(map(str, outputs))}: nothing to publish")
        tmp = to.with_name(f".{to.name}.publishing-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            layout, written = _build(tmp, runs, selected, command)
            if earlier is None:
                replace_dir(tmp, to)
            else:
                _update_in_place(tmp, to, earlier)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if push_to_hub:  # only what this publish wrote: files of yours in the folder stay on your disk
        upload(to, push_to_hub, private=private, only=[*written, MARKER])
    configs = {c: {split: info["num_examples"] for split, info in splits.items()} for c, splits in layout.items()}
    return PublishResult(to, configs, sorted(to / f for f in written if f.endswith(".parquet")))


def _build(
    root: Path, runs: Sequence[SynthesisRun], selected: Sequence[Selected], command: str | None
) -> tuple[dict, list[str]]:
    """Write the whole dataset into ``root``: parquet, card, and publish.json listing every file with its sha256.
    Returns the layout and the files written (relative paths)."""
    from audiomlqa.synthesis.figures import write_figures

    files, layout = _write_parquet(selected, root)
    stats = _statistics(runs, selected)
    sources = [{"directory": r.directory.name, "manifest": f"manifest{r.suffix}.jsonl", "split": r.split} for r in runs]
    asked = [r for run in runs for r in run.rows if r.key in run.questions]  # kept and rejected: pass rates
    figures = [p.relative_to(root).as_posix() for p in write_figures(root / "figures", asked, _human_errors(runs))]
    write_text(root / "README.md", dataset_card(layout, stats, runs, command, figures))
    written = {f: sha256_file(root / f) for f in [*files, *figures, "README.md"]}
    write_json(
        root / MARKER,
        {
            "audiomlqa_version": __version__,
            "configs": layout,
            "statistics": stats,
            "sources": sources,
            "files": written,
        },
    )
    return layout, list(written)


def _earlier_publish(to: Path, overwrite: bool) -> dict[str, set[str] | None] | None:
    """The files an earlier publish in ``to`` wrote (path → the sha256s it may have, None where it recorded none),
    or None when ``to`` is new or empty. Refuses a folder that holds no publish, and an earlier publish without
    ``overwrite``."""
    if not to.exists() or (to.is_dir() and not any(to.iterdir())):
        return None
    if not to.is_dir():
        raise AudioMLQAError(f"{to} is a file, not a folder: choose another --to")
    if not (to / MARKER).is_file():
        raise AudioMLQAError(
            f"{to} holds files that audiomlqa did not publish: choose a new or empty --to (nothing there was touched)"
        )
    if not overwrite:
        raise AudioMLQAError(
            f"{to} holds an earlier publish: pass --overwrite to replace its files (files it did not write are kept)"
        )
    try:
        record = json.loads((to / MARKER).read_text(encoding="utf-8"))
    except ValueError:
        raise AudioMLQAError(f"{to / MARKER} is damaged: move the folder away and publish again") from None
    if "files" in record:  # "pending": what an update that was interrupted had begun to put in place
        known: dict[str, set[str] | None] = {}
        for rel, sha in [*record["files"].items(), *record.get("pending", {}).items()]:
            inside(to, rel, f"{MARKER}: a file it lists")  # a tampered record must not reach outside --to
            known.setdefault(rel, set()).add(sha)
        return known
    # a publish of an earlier version did not list its files: its layout did
    return {
        p.relative_to(to).as_posix(): None
        for p in [to / "README.md", *(to / "data").glob("*/*.parquet")]
        if p.is_file()
    }


def _update_in_place(new: Path, to: Path, earlier: dict[str, set[str] | None]) -> None:
    """Move the files of the publish built in ``new`` into ``to``, and remove those of the earlier publish that
    it no longer has. A file is only replaced if it is one we wrote, unchanged since (or already the new
    one, as after an interrupted update); the record (publish.json) is replaced last."""
    written = json.loads((new / MARKER).read_text(encoding="utf-8"))["files"]
    edited = []
    for rel, sha in [*written.items(), *((r, None) for r in earlier if r not in written)]:
        target = to / rel
        if not target.is_file():
            continue
        current = sha256_file(target)
        ours = rel in earlier and (earlier[rel] is None or current in earlier[rel])
        if not ours and current != sha:
            edited.append(rel)
    if edited:
        raise AudioMLQAError(
            f"{len(edited)} file(s) in {to} were not written by the earlier publish or were changed "
            f"since, e.g. {', '.join(edited[:3])}: move them away first (nothing was touched)"
        )
    record = json.loads((to / MARKER).read_text(encoding="utf-8"))
    write_json(to / MARKER, {**record, "pending": written})  # so that a rerun after a kill knows these files too
    for rel in written:
        (to / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(new / rel, to / rel)
    for rel in earlier:
        if rel not in written and (to / rel).is_file():
            (to / rel).unlink()
            with contextlib.suppress(OSError):  # a config folder of ours that is now empty
                (to / rel).parent.rmdir()
    os.replace(new / MARKER, to / MARKER)


def _write_parquet(selected: Sequence[Selected], root: Path) -> tuple[list[str], dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    feats = features()
    schema = feats.arrow_schema
    groups: dict[tuple[str, str], list[Selected]] = {}
    for s in selected:
        groups.setdefault((s.config, s.split), []).append(s)
    files, layout = [], {}
    for (config, split), items in sorted(groups.items(), key=lambda kv: (pair_key(kv[0][0]), kv[0][1])):
        shards, size = [[]], 0
        for s in items:  # cut shards by audio bytes, deterministically
            n = inside(s.run.directory, s.row.audio, "audio path").stat().st_size
            if shards[-1] and size + n > MAX_SHARD_BYTES:
                shards.append([])
                size = 0
            shards[-1].append(s)
            size += n
        folder = root / "data" / config
        folder.mkdir(parents=True, exist_ok=True)
        for i, shard in enumerate(shards):
            rel = f"data/{config}/{split}-{i:05d}-of-{len(shards):05d}.parquet"
            table = pa.Table.from_pylist([_example(s.run, s.row) for s in shard], schema=schema)  # already plain values
            pq.write_table(
                table,
                root / rel,
                row_group_size=ROW_GROUP_SIZE,
                compression="zstd",
                use_dictionary=[
                    "id",
                    "title",
                    "context_lang",
                    "question_lang",
                    "tts_backend",
                    "tts_voice",
                    "tts_license",
                    "asr_model",
                    "error_metric",
                ],
                write_statistics=False,
            )
            files.append(rel)
        layout.setdefault(config, {})[split] = {
            "num_examples": len(items),
            "path": f"data/{config}/{split}-*.parquet",
            "num_bytes": sum((root / f).stat().st_size for f in files if f.startswith(f"data/{config}/{split}-")),
        }
    return files, layout


def _statistics(runs: Sequence[SynthesisRun], selected: Sequence[Selected]) -> dict:
    """Per pair and split: questions attempted, accepted, pass rate, median error, audio hours, TTS."""
    kept = {(s.split, *s.row.key) for s in selected if s.row.accepted}
    stats: dict[str, dict] = {}
    for run in runs:
        for (pair, qid), row in run.standing.items():
            s = stats.setdefault(
                f"{pair}/{run.split}",
                {
                    "pair": pair,
                    "split": run.split,
                    "attempted": 0,
                    "accepted": 0,
                    "metric": row.metric,
                    "errors": [],
                    "audio_seconds": 0.0,
                    "verified": row.verified,
                    "tts": set(),
                },
            )
            s["attempted"] += 1
            if row.error is not None:
                s["errors"].append(row.error)
            if (run.split, pair, qid) in kept:
                s["accepted"] += 1
                s["audio_seconds"] += row.duration
                s["tts"].add(f"{row.backend} ({row.tts_license or 'licence not recorded'})")
    for s in stats.values():
        errors = s.pop("errors")
        s["pass_rate"] = s["accepted"] / s["attempted"] if s["attempted"] else 0.0
        s["median_error"] = statistics.median(errors) if errors else None
        s["audio_hours"] = s.pop("audio_seconds") / 3600
        s["tts"] = sorted(s["tts"])
    return dict(sorted(stats.items(), key=lambda kv: (pair_key(kv[1]["pair"]), kv[1]["split"])))


def _human_errors(runs: Sequence[SynthesisRun]) -> dict[str, list[float]]:
    """Per question language, the ASR's errors on human speech from the runs' calibrations (first run wins)."""
    out: dict[str, list[float]] = {}
    for run in runs:
        for lang, entry in (_calibration(run).get("languages") or {}).items():
            out.setdefault(lang, list(entry.get("errors") or []))
    return out


def _calibration(run: SynthesisRun) -> dict:
    return run.record.calibration


def public_command(command: str | None) -> str | None:
    """A recorded command line fit for a card: absolute paths cut to their name (a recipe to ``recipes/…``), so
    no local folder or user name travels with the data."""
    import shlex

    if not command:
        return command
    try:
        tokens = shlex.split(command)
    except ValueError:
        return None
    out = []
    for token in tokens:
        if "=" in token and not token.startswith(("/", "~")):  # --output=/x, or an override asr.model=/x
            key, eq, value = token.partition("=")
        elif token.startswith("-") and not token.startswith("--") and len(token) > 2:  # -o/x
            key, eq, value = token[:2], "", token[2:]
        else:
            key, eq, value = "", "", token
        out.append(key + eq + public_path(value))
    return shlex.join(out)


def public_path(value: str) -> str:
    """An absolute path cut to its name (a recipe to ``recipes/…``); anything else as it is."""
    if not (value.startswith(("/", "~")) or (len(value) > 2 and value[1] == ":" and value[2] in "/\\")):
        return value
    parts = Path(value).parts
    return "/".join(parts[parts.index("recipes") :]) if "recipes" in parts else Path(value).name or value


def dataset_card(
    layout: dict, stats: dict, runs: Sequence[SynthesisRun], command: str | None, figures: Sequence[str] = ()
) -> str:
    """README.md: YAML header (configs, data files, features, the Hub's standard metadata) for ``load_dataset``,
    then the facts a user needs: counts, pass and error rates, figures, the limits of the data (generated from
    the runs' records), how it was made, under which licences, and what to cite."""
    configs = sorted(layout, key=pair_key)
    sections = [
        _card_header(layout, configs, runs),
        _card_intro(layout, configs),
        _card_contents(stats, layout),
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
    benchmark = [c for c in configs if c != REJECTED_CONFIG]
    languages = sorted({x for c in benchmark for x in parse_pair(c)}, key=language_key)
    examples = sum(info["num_examples"] for c in benchmark for info in layout[c].values())
    from_mlqa = all(run.record.source_lang is None for run in runs)
    header = {
        "pretty_name": "Audio-MLQA",
        "license": _DATASET_LICENSE,
        "language": languages,
        "annotations_creators": ["crowdsourced"],
        "language_creators": ["crowdsourced", "machine-generated"],
        "multilinguality": ["multilingual" if len(languages) > 1 else "monolingual"],
        "size_categories": [_size_category(examples)],
        "source_datasets": ["extended|mlqa" if from_mlqa else "extended|other"],
        "task_categories": ["question-answering"],
        "task_ids": ["extractive-qa"],
        "tags": ["audio", "spoken-question-answering", "speech", "synthetic-speech", "mlqa"],
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


def _card_intro(layout: dict, configs: list[str]) -> list[str]:
    return [
        "# Audio-MLQA",
        "",
        "MLQA (Lewis et al., 2020) with **spoken questions**: every question was synthesized with text-to-speech and "
        "kept only if an ASR round trip (Whisper) heard what was written. Contexts and answers stay text. "
        f"Made with audiomlqa {__version__}.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("PATH_OR_REPO_ID", "{configs[0]}", split="{sorted(layout[configs[0]])[0]}")',
        'ds[0]["audio"]["array"], ds[0]["question"], ds[0]["answers"]',
        "```",
        "",
        "Configs are (context, question) language pairs: `de` is German context with a German question, "
        "`de-en` German context with an English question. Splits follow MLQA (`validation` = dev, `test`). "
        "Score answers with MLQA's official metric: `audiomlqa score predictions/ --dataset PATH_OR_REPO_ID`.",
        "",
    ]


def _card_contents(stats: dict, layout: dict) -> list[str]:
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
            f"The `{REJECTED_CONFIG}` config holds the questions that failed the filter (their best attempt), "
            "for analysis; it is not part of the benchmark.",
        ]
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
    unverified = sorted({s["pair"] for s in stats.values() if not s["verified"]}, key=pair_key)
    if unverified:
        lines.append(
            f"- **Unverified: {', '.join(unverified)}.** The ASR judge cannot transcribe these question languages "
            "reliably; their clips only passed a relaxed threshold (`verified: false`). Listen before relying on them."
        )
    rates = sorted(((s["pass_rate"], s["pair"]) for s in stats.values()), key=lambda t: t[0])
    if rates:
        lines.append(
            "- **Selection by the filter.** Only questions whose clip passed are in the benchmark, from "
            f"{100 * rates[0][0]:.0f}% of the questions asked ({rates[0][1]}) to {100 * rates[-1][0]:.0f}% "
            f"({rates[-1][1]}): where few pass, questions that are hard to speak or to transcribe (names, numbers, "
            "foreign words) are under-represented, and scores are not directly comparable "
            "with text MLQA's. `publish --include-rejected` adds the rest as config `rejected`."
        )
    lines.append(
        "- **Short questions.** A question has a few words, so one misheard word moves its WER by a large step; the "
        "error of a clip is a coarse measure of its quality."
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
        lang: e
        for run in runs
        for lang, e in (_calibration(run).get("languages") or {}).items()
        if run.record.thresholds.get(lang) is not None and run.record.thresholds[lang].kind == "calibrated"
    }
    if calibrated:
        reference = next(_calibration(run).get("reference") for run in runs if _calibration(run))
        lines.append(
            f"  - Its error on human speech ({reference}), and the share of those human readings the threshold "
            "would keep (each judged at a threshold calibrated on the others): "
            + "; ".join(
                f"{lang} median {e['median']:.3f} over {e['n']} clips, "
                + ("—" if e.get("leave_one_out_acceptance") is None else f"{100 * e['leave_one_out_acceptance']:.0f}%")
                + " kept"
                for lang, e in sorted(calibrated.items(), key=lambda kv: language_key(kv[0]))
            )
            + "."
        )
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


_CITATIONS = {
    "mlqa": """@inproceedings{lewis2020mlqa,
  title = {{MLQA}: Evaluating Cross-lingual Extractive Question Answering},
  author = {Lewis, Patrick and Oguz, Barlas and Rinott, Ruty and Riedel, Sebastian and Schwenk, Holger},
  booktitle = {Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics},
  pages = {7315--7330},
  year = {2020}
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
}


def _card_citation(runs: Sequence[SynthesisRun]) -> list[str]:
    keys = ["mlqa", "audio-mlqa"]
    if any("fleurs" in str(_calibration(run).get("reference", "")).lower() for run in runs):
        keys.insert(1, "fleurs")
    return [
        "",
        "## Citation",
        "",
        "Cite MLQA for the text, and the work this dataset follows:",
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


def upload(folder: Path, repo_id: str, *, private: bool = False, only: list[str] | None = None) -> str:
    """Upload a published folder to the Hub as a dataset repo (token never printed or written); ``only`` limits
    it to those files."""
    from audiomlqa.weights.hub import push

    message = f"Audio-MLQA from audiomlqa {__version__}"
    return push(folder, repo_id, repo_type="dataset", message=message, private=private, only=only)
