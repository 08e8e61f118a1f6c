"""Readings (よみ) of Japanese text in hiragana, from the Sudachi morphological analyser.

A real procedure inventory arrives as a spreadsheet of names without readings; the
catalog derives them here so that every procedure is searchable in kana. Queries go
through the same analyser, which is how 申込, 申込み and 申し込み meet: all read もうしこみ.
"""

import threading
from functools import lru_cache

import jaconv

from tenohira.core.text import normalize

_local = threading.local()

# Punctuation and symbols read aloud as their names (（ → きごう); a reading keeps none.
_SKIPPED_POS = {"補助記号", "空白"}
# Words that carry the meaning of a query; particles and auxiliaries do not.
_CONTENT_POS = {"名詞", "動詞", "形容詞", "形状詞", "接頭辞", "代名詞", "副詞"}
# Words whose written form changes with the sentence (亡くなった, 捨てたい): their
# dictionary form (亡くなる, 捨てる) is what a synonym list can name.
_INFLECTED_POS = {"動詞", "形容詞"}

# Words that people read in more than one way, all of them in everyday or official use.
# The analyser gives one reading (出生 → しゅっしょう, the legal one); a resident who
# types しゅっせいとどけ means the same form. Only words whose every reading is common
# belong here: a misreading is not a variant.
VARIANT_READINGS = {
    "出生": ("しゅっしょう", "しゅっせい"),
    "続柄": ("つづきがら", "ぞくがら"),
    "遺言": ("ゆいごん", "いごん"),
    "施行": ("しこう", "せこう"),
    "貼付": ("ちょうふ", "てんぷ"),
    "重複": ("ちょうふく", "じゅうふく"),
    "競売": ("きょうばい", "けいばい"),
    "代替": ("だいたい", "だいがえ"),
    "依存": ("いぞん", "いそん"),
    "一時": ("いちじ", "いっとき"),
    "市場": ("しじょう", "いちば"),
    "工場": ("こうじょう", "こうば"),
    "日本": ("にほん", "にっぽん"),
    "二十歳": ("はたち", "にじゅっさい", "にじっさい"),
    "保育所": ("ほいくしょ", "ほいくじょ"),
    "集会所": ("しゅうかいじょ", "しゅうかいしょ"),
    "避難所": ("ひなんじょ", "ひなんしょ"),
    "研究所": ("けんきゅうじょ", "けんきゅうしょ"),
}

# A name rarely holds more than one or two of these words; the cap keeps a pathological
# name from multiplying its readings.
MAX_READING_VARIANTS = 8


def _tokenizer(fine: bool = False):
    """Sudachi's longest units (mode C: 要介護認定) or, with `fine`, its shortest (mode A:
    要, 介護, 認定), which is how a compound nobody wrote in a name is still found."""
    attribute = "fine" if fine else "tokenizer"
    tokenizer = getattr(_local, attribute, None)
    if tokenizer is None:
        from sudachipy import Dictionary, SplitMode

        # Sudachi tokenizers are not safe to share between threads.
        dictionary = Dictionary(dict="core")
        tokenizer = dictionary.tokenizer(mode=SplitMode.A if fine else SplitMode.C)
        setattr(_local, attribute, tokenizer)
    return tokenizer


@lru_cache(maxsize=4096)
def reading(text: str) -> str:
    """Hiragana reading of `text`; characters the analyser cannot read are kept as written."""
    if not text:
        return ""
    parts = []
    for morpheme in _tokenizer().tokenize(text):
        if morpheme.part_of_speech()[0] in _SKIPPED_POS:
            continue
        form = morpheme.reading_form() or morpheme.surface()
        parts.append(form)
    return jaconv.kata2hira("".join(parts))


@lru_cache(maxsize=1)
def _folded_variants() -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (normalize(word), tuple(normalize(sound) for sound in sounds)) for word, sounds in VARIANT_READINGS.items()
    )


def reading_variants(text: str, text_reading: str) -> list[str]:
    """The reading of `text` followed by the other readings of its words in
    VARIANT_READINGS, all in comparison form (`core.text.normalize`).
    出生届, しゅっしょうとどけ → [しゆつしようとどけ, しゆつせいとどけ]."""
    spelled = normalize(text)
    found = [normalize(text_reading)]
    for word, sounds in _folded_variants():
        if word not in spelled:
            continue
        for known in list(found):
            for sound in sounds:
                if sound not in known:
                    continue
                for other in sounds:
                    variant = known.replace(sound, other)
                    if variant not in found and len(found) < MAX_READING_VARIANTS:
                        found.append(variant)
    return found


@lru_cache(maxsize=4096)
def content_morphemes(text: str, *, fine: bool = False) -> tuple[tuple[str, str], ...]:
    """(as written, dictionary form) of each content word of `text`: 家族が亡くなった →
    (家族, 家族), (亡くなっ, 亡くなる). With `fine`, compounds are split (see _tokenizer)."""
    return tuple(
        (morpheme.surface(), morpheme.dictionary_form())
        for morpheme in _tokenizer(fine).tokenize(text)
        if _is_content(morpheme.part_of_speech())
    )


def _is_content(pos) -> bool:
    # Verbs that only help another (てきた, 飼い始めた, したい: くる, 始める, する) say
    # nothing about the procedure.
    return pos[0] in _CONTENT_POS and not (pos[0] in _INFLECTED_POS and pos[1] == "非自立可能")


def content_words(text: str, *, fine: bool = False) -> tuple[str, ...]:
    """The content words of `text` as written (保育園の申し込み → 保育園, 申し込み)."""
    return tuple(surface for surface, _lemma in content_morphemes(text, fine=fine))


@lru_cache(maxsize=4096)
def lemma(text: str) -> str:
    """`text` with its inflected words in dictionary form and without particles or
    auxiliaries (亡くなった → 亡くなる, 生まれた → 生まれる, 犬 → 犬)."""
    parts = []
    for morpheme in _tokenizer().tokenize(text):
        pos = morpheme.part_of_speech()
        if not _is_content(pos):
            continue
        parts.append(morpheme.dictionary_form() if pos[0] in _INFLECTED_POS else morpheme.surface())
    return "".join(parts)
