"""The CTranslate2 → transformers Whisper converter: the same clip decodes to the same tokens both ways."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("faster_whisper")

from audiomlqa.asr import load_asr  # noqa: E402
from audiomlqa.asr.faster_whisper import _pad_frames  # noqa: E402
from audiomlqa.audio import prepare  # noqa: E402
from audiomlqa.tts import load_backend  # noqa: E402
from audiomlqa.weights.ct2_convert import read_ct2_model, whisper_base_transformers_dir  # noqa: E402
from audiomlqa.weights.whisper_base import whisper_base_dir  # noqa: E402


def test_reader_sees_every_whisper_base_tensor():
    spec, variables = read_ct2_model(whisper_base_dir() / "model.bin")
    assert spec == "WhisperSpec"
    assert variables["encoder/layer_0/self_attention/linear_0/weight"].shape == (1536, 512)  # fused q/k/v
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]  # an alias


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "What is the capital of France and how many people live there?"),
        ("de", "Wie heißt die Hauptstadt von Deutschland?"),
        ("zh", "北京是中国的首都。"),
    ],
)
def test_converted_model_decodes_the_same_tokens_as_ctranslate2(lang, text):
    from faster_whisper.tokenizer import Tokenizer
    from transformers import WhisperForConditionalGeneration

    hf = WhisperForConditionalGeneration.from_pretrained(whisper_base_transformers_dir()).eval()
    ct = load_asr("faster-whisper", compute_type="float32")

    tts = load_backend("espeak")
    audio = prepare(tts.synthesize(text, lang, tts.voices(lang)[0])).samples
    features = np.stack([_pad_frames(ct.model.feature_extractor(audio)[:, :-1])]).astype(np.float32)
    tokenizer = Tokenizer(ct.model.hf_tokenizer, True, task="transcribe", language=lang)
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    # Whisper's own token suppression on both sides: -1 = the model's list; blank at the start
    ct_ids = ct.model.model.generate(
        ct.model.encode(features), [prompt], beam_size=1, max_length=64, suppress_blank=True, suppress_tokens=[-1]
    )[0].sequences_ids[0]
    with torch.no_grad():
        out = hf.generate(
            torch.from_numpy(features),
            decoder_input_ids=torch.tensor([prompt]),
            max_new_tokens=60,
            do_sample=False,
            num_beams=1,
        )
    hf_ids = [t for t in out[0].tolist() if t < tokenizer.eot]
    assert ct_ids and hf_ids == ct_ids, (tokenizer.decode(ct_ids), tokenizer.decode(hf_ids))
