"""The dataset's rows as parquet: the columns (:func:`features`: MLQA's, the spoken question, where every clip
came from), one example per standing attempt with its FLAC bytes embedded, and :func:`write_parquet`, which cuts
each config's split into shards by audio bytes and writes them with fixed settings, so that the same rows give
byte-identical files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from audiomlqa.errors import AudioMLQAError
from audiomlqa.languages import pair_key
from audiomlqa.manifest import FLAC_MAGIC, Attempt
from audiomlqa.publish.runs import Selected, SynthesisRun, public_path
from audiomlqa.tasks import EXTRACTIVE_QA
from audiomlqa.utils.files import inside, open_regular

MAX_SHARD_BYTES = 256 << 20
"""Audio bytes per parquet file (the Hub's viewer and streaming work best well under 500 MB)."""
ROW_GROUP_SIZE = 100
DICTIONARY_COLUMNS = [
    "id",
    "title",
    "task",
    "context_lang",
    "question_lang",
    "tts_backend",
    "tts_voice",
    "tts_license",
    "asr_model",
    "error_metric",
]
"""Columns with few distinct values, dictionary-encoded."""


def features():
    """The dataset's columns: MLQA's, the task (an instruction's ``question`` is the instruction, its ``reference``
    the reference response; MLQA rows have none), the spoken question, and where every clip came from."""
    import datasets as hf

    return hf.Features(
        {
            "id": hf.Value("string"),
            "title": hf.Value("string"),
            "context": hf.Value("string"),
            "question": hf.Value("string"),
            "answers": {"text": hf.List(hf.Value("string")), "answer_start": hf.List(hf.Value("int32"))},
            "task": hf.Value("string"),
            "reference": hf.Value("string"),
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
        "task": q.get("task", EXTRACTIVE_QA),
        "reference": q.get("reference"),
        "audio": {"path": Path(row.audio).name, "bytes": clip_bytes(run, row)},
        **{column: getattr(row, field) for column, field in PROVENANCE_COLUMNS.items()},
        # a local checkpoint (an MMS voice, a Whisper folder) is named, not located
        "tts_voice": public_path(row.voice),
        "asr_model": public_path(row.asr_model),
    }


def clip_bytes(run: SynthesisRun, row: Attempt) -> bytes:
    """The clip of ``row``, read once and checked on the very bytes returned (what is embedded is what was checked):
    a regular file inside the run's folder, reached through no link, with the size and sha256 its row records
    (rows of older versions record none: they are computed from these bytes) and a FLAC header."""
    where = f"{run.name}: row {row.pair}/{row.id} (attempt {row.attempt})"
    try:
        path = inside(run.directory, row.audio, "audio path")
        with open_regular(path, f"audio path {row.audio!r}", within=run.directory) as f:
            data = f.read()
    except AudioMLQAError as e:
        raise AudioMLQAError(f"{where}: {e}") from None
    except OSError as e:
        why = e.strerror or e
        raise AudioMLQAError(f"{where}: cannot read {row.audio} ({why}); rerun synthesis on that output") from None
    size, sha = len(data), hashlib.sha256(data).hexdigest()
    if (row.audio_bytes is not None and size != row.audio_bytes) or (
        row.audio_sha256 is not None and sha != row.audio_sha256
    ):
        problem = f"changed since it was written ({size} bytes, sha256 {sha[:12]}… where the manifest says "
        problem += f"{row.audio_bytes} bytes, sha256 {(row.audio_sha256 or '?')[:12]}…)"
    elif not data.startswith(FLAC_MAGIC):
        problem = "not a FLAC file"
    else:
        return data
    raise AudioMLQAError(f"{where}: {row.audio} is {problem}: refused; rerun the synthesis command on that output")


def write_parquet(selected: Sequence[Selected], root: Path) -> tuple[list[str], dict]:
    """Write ``selected`` to ``root/data/<config>/<split>-<i>-of-<N>.parquet``; returns the files (relative paths)
    and the layout: config → split → ``num_examples``, ``path`` (the files' pattern) and ``num_bytes``."""
    schema = features().arrow_schema
    groups: dict[tuple[str, str], list[Selected]] = {}
    for s in selected:
        groups.setdefault((s.config, s.split), []).append(s)
    files, layout = [], {}
    for (config, split), items in sorted(groups.items(), key=lambda kv: (pair_key(kv[0][0]), kv[0][1])):
        shards = _cut_shards(items)
        folder = root / "data" / config
        folder.mkdir(parents=True, exist_ok=True)
        for i, shard in enumerate(shards):
            rel = f"data/{config}/{split}-{i:05d}-of-{len(shards):05d}.parquet"
            _write_shard(shard, root / rel, schema)
            files.append(rel)
        layout.setdefault(config, {})[split] = {
            "num_examples": len(items),
            "path": f"data/{config}/{split}-*.parquet",
            "num_bytes": sum((root / f).stat().st_size for f in files if f.startswith(f"data/{config}/{split}-")),
        }
    return files, layout


def _cut_shards(items: Sequence[Selected]) -> list[list[Selected]]:
    """``items`` in order, cut into shards of at most :data:`MAX_SHARD_BYTES` of audio (a bigger clip alone)."""
    shards: list[list[Selected]] = [[]]
    size = 0
    for s in items:
        n = inside(s.run.directory, s.row.audio, "audio path").lstat().st_size  # checked when read: clip_bytes
        if shards[-1] and size + n > MAX_SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(s)
        size += n
    return shards


def _write_shard(shard: Sequence[Selected], path: Path, schema) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([_example(s.run, s.row) for s in shard], schema=schema)  # already plain values
    pq.write_table(
        table,
        path,
        row_group_size=ROW_GROUP_SIZE,
        compression="zstd",
        use_dictionary=DICTIONARY_COLUMNS,
        write_statistics=False,
    )
