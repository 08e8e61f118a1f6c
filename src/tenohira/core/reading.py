"""Readings (よみ) of Japanese text in hiragana, from the Sudachi morphological analyser.

A real procedure inventory arrives as a spreadsheet of names without readings; the
catalog derives them here so that every procedure is searchable in kana. Queries go
through the same analyser, which is how 申込, 申込み and 申し込み meet: all read もうしこみ.
"""

import threading
from functools import lru_cache

import jaconv

_local = threading.local()

# Punctuation and symbols read aloud as their names (（ → きごう); a reading keeps none.
_SKIPPED_POS = {"補助記号", "空白"}
# Words that carry the meaning of a query; particles and auxiliaries do not.
_CONTENT_POS = {"名詞", "動詞", "形容詞", "形状詞", "接頭辞", "代名詞", "副詞"}


def _tokenizer():
    tokenizer = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        from sudachipy import Dictionary, SplitMode

        # Sudachi tokenizers are not safe to share between threads.
        tokenizer = Dictionary(dict="core").tokenizer(mode=SplitMode.C)
        _local.tokenizer = tokenizer
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


@lru_cache(maxsize=4096)
def content_words(text: str) -> tuple[str, ...]:
    """The content words of `text` as written (保育園の申し込み → 保育園, 申し込み)."""
    return tuple(
        morpheme.surface()
        for morpheme in _tokenizer().tokenize(text)
        if morpheme.part_of_speech()[0] in _CONTENT_POS
    )
