"""The paper recipe's real corpora, read through its own mix entries: for each Hub corpus, a tiny dataset laid out
and shaped like it (its folders or configs, column names, language codes as it writes them, its speaker column)
stands in for the Hub id, and everything else in the entry is kept. The utterances must come out with the right
transcript, bank language and speaker; codes outside the bank are counted; validation holds out whole speakers."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
datasets = pytest.importorskip("datasets")

from audiomlqa.config import load_yaml  # noqa: E402
from audiomlqa.speechllm.data import DataConfig, load_asr_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = load_yaml(ROOT / "recipes" / "train-paper.yaml")
LANGS = RECIPE["model"]["languages"]
CV_LOCALE = {"en": "en", "de": "de", "es": "es", "vi": "vi", "zh": "zh-CN", "id": "id"}
FLEURS = {  # config folder → (bank language, the name FLEURS writes in its `language` column)
    "en_us": ("en", "English"),
    "vi_vn": ("vi", "Vietnamese"),
    "id_id": ("id", "Indonesian"),
    "cmn_hans_cn": ("zh", "Mandarin Chinese"),
    "es_419": ("es", "Spanish"),
    "de_de": ("de", "German"),
}


def _clips(n: int, rate: int) -> list[dict]:
    rng = np.random.default_rng(n * rate)
    return [{"array": rng.uniform(-0.1, 0.1, rate // 5).astype(np.float32), "sampling_rate": rate} for _ in range(n)]


def _write(root: Path, folder: str, rows: dict, rate: int) -> None:
    """One split of a Hub repo's parquet layout (``<config>/train/0000.parquet``), audio stored as the Hub stores it."""
    ds = datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio(sampling_rate=rate))
    (root / folder / "train").mkdir(parents=True)
    ds.to_parquet(str(root / folder / "train" / "0000.parquet"))


def _common_voice(root: Path, configs: dict[str, list[str]], *, named_configs: bool) -> Path:
    """Common Voice's columns; ``configs`` maps each config to the locale of each of its rows (3 speakers, 2 each
    when 6). Named configs (README ``configs:``) like fixie-ai/common_voice_17_0, or plain folders like a parquet
    export."""
    for config, locales in configs.items():
        n = len(locales)
        rows = {
            "client_id": [f"{config}-speaker{i // 2}" for i in range(n)],
            "path": [f"common_voice_{config}_{i}.mp3" for i in range(n)],
            "audio": _clips(n, 48000),
            "sentence": [f"cv {locale} sentence {i}" for i, locale in enumerate(locales)],
            "up_votes": [2] * n,
            "down_votes": [0] * n,
            "age": ["twenties"] * n,
            "gender": ["female"] * n,
            "accent": [""] * n,
            "locale": locales,
            "segment": [""] * n,
        }
        _write(root, config, rows, 48000)
    if named_configs:
        listed = "".join(
            f"- config_name: {c}\n  data_files:\n  - split: train\n    path: {c}/train/*.parquet\n" for c in configs
        )
        (root / "README.md").write_text(f"---\nconfigs:\n{listed}---\n")
    return root


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> dict[str, Path]:
    """A stand-in for each Hub id the recipe names."""
    base = tmp_path_factory.mktemp("hub")
    cv17 = _common_voice(base / "cv17", {c: [c] * 6 for c in ("en", "de", "es", "vi", "fr")}, named_configs=True)
    cv6 = _common_voice(base / "cv6", {"zh-CN": ["zh-CN"] * 6, "id": ["id"] * 6}, named_configs=False)
    for folder, (lang, name) in FLEURS.items():  # 2 sentences × 3 readings (by different speakers)
        rows = {
            "id": [1000 + i // 3 for i in range(6)],
            "num_samples": [3200] * 6,
            "path": [f"{i}.wav" for i in range(6)],
            "audio": _clips(6, 16000),
            "transcription": [f"fleurs {lang} normalized {i}" for i in range(6)],
            "raw_transcription": [f"FLEURS {lang} raw {i}." for i in range(6)],
            "gender": [i % 2 for i in range(6)],
            "lang_id": [list(FLEURS).index(folder)] * 6,
            "language": [name] * 6,
            "lang_group_id": [0] * 6,
        }
        _write(base / "fleurs", folder, rows, 16000)
    for lang in LANGS:
        rows = {
            "utt_id": [f"vid{lang}{i}-00000-{i:08d}-{i + 1:08d}" for i in range(3)],
            "audio": _clips(3, 16000),
            "text": [f"yodas {lang} {i}" for i in range(3)],
        }
        _write(base / "yodas", f"{lang}000", rows, 16000)
    vivoice = base / "vivoice"
    rows = {"channel": [f"@channel{i // 2}" for i in range(6)], "text": [f"vivoice {i}" for i in range(6)]}
    rows["audio"] = _clips(6, 24000)
    _write(vivoice, "data", rows, 24000)
    return {
        "fixie-ai/common_voice_17_0": cv17,
        "legacy-datasets/common_voice": cv6,
        "google/fleurs": base / "fleurs",
        "espnet/yodas": base / "yodas",
        "capleaf/viVoice": vivoice,
    }


def _local(data: dict, hub: dict[str, Path]) -> DataConfig:
    """The recipe's data section with each Hub id swapped for its stand-in, every other field kept."""
    local = copy.deepcopy(data)
    assert {part["source"] for part in local["mix"]} == set(hub), "a corpus of the recipe has no stand-in here"
    for part in local["mix"]:
        part["source"] = str(hub[part["source"]])
    return DataConfig.model_validate(local)


def _written(text: str) -> tuple[str, object]:
    """The bank language and speaker a stand-in row was written with, read back from its transcript: Common
    Voice's client_id, FLEURS's sentence id (it names no speaker), viVoice's channel, none for YODAS."""
    words, i = text.split(), int(text.rstrip(".").split()[-1])
    if words[0] == "cv":
        lang = {v: k for k, v in CV_LOCALE.items()}[words[1]]
        return lang, f"{words[1]}-speaker{i // 2}"
    if words[0] == "FLEURS":
        return words[1], 1000 + i // 3
    if words[0] == "vivoice":
        return "vi", f"@channel{i // 2}"
    return words[1], None


def test_every_corpus_of_the_paper_recipe_maps_to_text_bank_language_and_speaker(hub):
    train, validation = load_asr_corpus(_local(RECIPE["data"], hub), LANGS)
    items = train.items + validation.items
    counts = train.counts
    assert counts["language_not_in_bank"] == {} and counts["empty_text"] == 0
    assert counts["rows"] == len(items) == 6 * 4 + 6 * 2 + 6 * 6 + 3 * 6 + 6  # fr is a config the recipe never names
    texts = {x[2] for x in items}
    assert {t for t in texts if t.startswith("cv ")} == {
        f"cv {CV_LOCALE[lang]} sentence {i}" for lang in ("en", "de", "es", "vi", "zh", "id") for i in range(6)
    }
    fleurs = {f"FLEURS {lang} raw {i}." for lang, _ in FLEURS.values() for i in range(6)}
    assert {t for t in texts if "FLEURS" in t} == fleurs
    assert not any("normalized" in t for t in texts), "FLEURS is read from raw_transcription, cased and punctuated"
    assert {t for t in texts if t.startswith("yodas")} == {f"yodas {lang} {i}" for lang in LANGS for i in range(3)}
    assert {t for t in texts if t.startswith("vivoice")} == {f"vivoice {i}" for i in range(6)}
    for _, _, text, language, voice in items:
        assert (language, voice) == _written(text), text
    # audio at each corpus's own rate (48, 16 and 24 kHz) comes out at 16 kHz
    for prefix in ("cv en", "FLEURS vi", "yodas zh", "vivoice"):
        i = next(i for i, x in enumerate(train.items) if x[2].startswith(prefix))
        assert train[i].audio.dtype == np.float32 and abs(train[i].seconds - 0.2) < 0.01, prefix


def test_validation_holds_out_whole_speakers_and_yodas_utterances_one_by_one(hub):
    train, validation = load_asr_corpus(_local(RECIPE["data"], hub), LANGS)
    assert train.counts["validation_by"] == "voice where named"  # YODAS names no speaker
    for lang in LANGS:
        held = {x[4] for x in validation.items if x[3] == lang}
        trained = {x[4] for x in train.items if x[3] == lang}
        assert held and trained, lang
        assert not (held - {None}) & trained, f"{lang}: a held-out speaker also trains"
    assert {(x[2], x[3]) for x in validation.items}.isdisjoint({(x[2], x[3]) for x in train.items})
    assert len(validation) < 0.2 * (len(train) + len(validation))


def test_common_voice_codes_outside_the_bank_are_left_out_and_counted(tmp_path):
    """A copy that keeps Common Voice's Chinese locales in one config: zh-CN maps to zh; zh-TW, zh-HK and a
    stray ca are counted, not trained on (no bank speaks them)."""
    locales = ["en", "en", "zh-CN", "zh-CN", "zh-TW", "zh-HK", "zh-HK", "ca"]
    cv = _common_voice(tmp_path / "cv", {"en": locales}, named_configs=True)
    part = copy.deepcopy(RECIPE["data"]["mix"][0])
    assert part["source"] == "fixie-ai/common_voice_17_0" and part["config"] == "en"
    part["source"] = str(cv)
    train, _ = load_asr_corpus(DataConfig.model_validate({"mix": [part]}), LANGS)
    assert sorted(x[3] for x in train.items) == ["en", "en", "zh", "zh"]
    assert train.counts["language_not_in_bank"] == {"zh-TW": 1, "zh-HK": 2, "ca": 1}
    assert train.counts["rows"] == 8 and train.counts["train"] == 4
