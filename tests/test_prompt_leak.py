"""The round-trip judge never scores its prompt as speech (issue 25, item 2).

Whisper base, given its Hindi script prompt, wrote the prompt (``प्रश्न है।``) for Hindi it could not hear. Both
backends now strip a leaked copy of the prompt and say so. The sentences spoken here share no word with the
prompt, so any prompt word in a transcript is a leak.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audiomlqa.asr import DEFAULT_PROMPTS, strip_leaked_prompt

HINDI_PROMPT, CHINESE_PROMPT, ARABIC_PROMPT = DEFAULT_PROMPTS["hi"], DEFAULT_PROMPTS["zh"], DEFAULT_PROMPTS["ar"]

# What Whisper base wrote for speech it could not hear (issue 25 and our own eSpeak/Kokoro clips).
LEAKS = [
    (HINDI_PROMPT, "प्रश्न प्रश्न है।", ""),
    (HINDI_PROMPT, "चोप प्रश्न है।", "चोप"),
    (HINDI_PROMPT, "प्रश़्र विपश यह एक प्रश्न है।", "विपश"),
    (HINDI_PROMPT, "यह है।", ""),
    (HINDI_PROMPT, "अप्रश्न हैं प्रश्न हैं प्रश्न हैं प्रश्न हैं प्र", ""),
    (HINDI_PROMPT, "यह प्रश्न सो लव्या ती के तो पर लापे", "सो लव्या ती के तो पर लापे"),
    (HINDI_PROMPT, "प्रश्ने में परश्न के वा", "के वा"),
    (HINDI_PROMPT, "प्रश्न सो लव्व दिव वे तो रशाँ पे", "सो लव्व दिव वे तो रशाँ पे"),
    (CHINESE_PROMPT, "以下是普通话的句子。", ""),
    (CHINESE_PROMPT, "这位置是普通话的句子。", "这位置"),
    (ARABIC_PROMPT, "كل now سؤال باللغة العربية تحاولك من قبل", "كل now تحاولك من قبل"),
]

# Questions that share a word or two with the prompt, heard right: nothing to strip.
SPEECH = [
    (HINDI_PROMPT, "ताजमहल किस शहर में है?"),
    (HINDI_PROMPT, "यह क्या है?"),
    (HINDI_PROMPT, "1990 में एक फिल्म किसने बनाई?"),
    (HINDI_PROMPT, "इसका कारण यह है कि"),
    (CHINESE_PROMPT, "以下哪个国家最大？"),
    (ARABIC_PROMPT, "ما هو هذا؟"),
]


@pytest.mark.parametrize(("prompt", "heard", "left"), LEAKS)
def test_a_leaked_prompt_is_stripped_and_reported(prompt, heard, left):
    assert strip_leaked_prompt(heard, prompt) == (left, True)
    assert strip_leaked_prompt(left, prompt) == (left, False)  # no run of the prompt is left


@pytest.mark.parametrize(("prompt", "heard"), SPEECH)
def test_speech_that_shares_a_word_or_two_with_the_prompt_is_left_alone(prompt, heard):
    assert strip_leaked_prompt(heard, prompt) == (heard, False)


def test_prompt_words_the_reference_says_are_not_taken_for_a_leak():
    question = "हिंदी में कितने अक्षर हैं?"
    assert strip_leaked_prompt(question, HINDI_PROMPT) == ("कितने अक्षर", True)
    assert strip_leaked_prompt(question, HINDI_PROMPT, reference=question) == (question, False)
    assert strip_leaked_prompt("प्रश्न है।", HINDI_PROMPT, reference=question) == ("", True)


def test_a_prompt_in_a_spaced_script_is_compared_word_by_word_even_when_it_is_one_word():
    assert strip_leaked_prompt("the cat sat on a mat", "Tacos") == ("the cat sat on a mat", False)
    assert strip_leaked_prompt("tacos the cat sat", "Tacos.") == ("the cat sat", True)


def test_without_a_prompt_nothing_is_stripped():
    assert strip_leaked_prompt("यह प्रश्न है।", None) == ("यह प्रश्न है।", False)
    assert strip_leaked_prompt("यह प्रश्न है।", "") == ("यह प्रश्न है।", False)


# Words from letters the Hindi prompt does not use: they cannot resemble its words.
_WORDS = st.lists(
    st.text(st.sampled_from("गघचजटडतथधबभलवस"), min_size=1, max_size=3).flatmap(
        lambda w: st.sampled_from(["ा", "ु", "ो", ""]).map(lambda sign: w + sign)
    ),
    min_size=1,
    max_size=8,
)


@given(_WORDS, st.sampled_from(["यह हिंदी में एक प्रश्न है।", "प्रश्न है।", "यह एक प्रश्न है"]))
def test_speech_after_or_before_a_leaked_prompt_survives_whole(words, leak):
    speech = " ".join(words)
    assert strip_leaked_prompt(speech, HINDI_PROMPT) == (speech, False)
    assert strip_leaked_prompt(f"{leak} {speech}", HINDI_PROMPT) == (speech, True)
    assert strip_leaked_prompt(f"{speech} {leak}", HINDI_PROMPT) == (speech, True)


# -- the judge itself, on Hindi speech that shares no word with the prompt ---------------------------------

UNRELATED = [  # (sentence, eSpeak voice): the old judge wrote "प्रश्न" for these clean clips
    ("डॉक्टर ने मरीज़ को आराम करने की सलाह दी।", "hi"),
    ("किसान सुबह जल्दी खेतों पर जाते थे।", "hi+f3"),
    ("बच्चों ने मैदान पर फुटबॉल खेला।", "hi+m3"),
]


def _clips() -> list[np.ndarray]:
    from audiomlqa.audio import resample
    from audiomlqa.tts import load_backend

    espeak = load_backend("espeak")
    return [resample(espeak.synthesize(text, "hi", voice, seed=0)).samples for text, voice in UNRELATED]


def _prompt_runs(text: str) -> list[str]:
    """Prompt words heard: "प्रश्न" (question) and any two prompt words in a row; no sentence above says them."""
    prompt = HINDI_PROMPT.rstrip("।").split()
    pairs = [" ".join(pair) for pair in zip(prompt, prompt[1:])]
    return [w for w in ["प्रश्न", *pairs] if w in text]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["faster-whisper", "transformers"])
def test_a_hindi_clip_of_unrelated_speech_is_not_transcribed_as_the_prompt(backend):
    from audiomlqa.asr import load_asr

    asr = load_asr(backend)
    assert asr.describe()["prompts"]["hi"] == HINDI_PROMPT
    heard = asr.transcribe_checked(_clips(), "hi", [text for text, _ in UNRELATED])
    assert len(heard) == len(UNRELATED)
    for text, _ in heard:
        assert not _prompt_runs(text), text
        assert strip_leaked_prompt(text, HINDI_PROMPT) == (text, False)  # whatever leaked was stripped whole
