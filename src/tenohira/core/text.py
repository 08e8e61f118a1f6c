"""Japanese text normalisation: one function that decides when two spellings are "the same".

Residents type the same word in many forms: ホイク / ほいく, ﾏｲﾅﾝﾊﾞｰ / マイナンバー,
ＰＣＲ / pcr, コンピューター / コンピュータ, キャッシュ / キヤツシユ. Search, imports and
form inputs all fold text through `normalize` so that those forms compare equal. Kanji
variants with different okurigana (申込 / 申し込み) are not equal as text; they meet
through their readings (see `tenohira.core.reading`).
"""

import re
import unicodedata

import jaconv

# Small kana and archaic/rare kana folded to their everyday large form, after katakana
# has become hiragana: old documents write キヤツシユ for キャッシュ, and residents
# cannot be expected to know which one a procedure name uses.
_KANA_FOLD = str.maketrans(
    {
        "ぁ": "あ", "ぃ": "い", "ぅ": "う", "ぇ": "え", "ぉ": "お",
        "っ": "つ", "ゃ": "や", "ゅ": "ゆ", "ょ": "よ", "ゎ": "わ",
        "ゕ": "か", "ゖ": "か", "ヵ": "か", "ヶ": "か",
        "ゔ": "ぶ", "ゐ": "い", "ゑ": "え",
        # kata2hira leaves these katakana alone: ヷ..ヺ are ヴァ..ヴォ in one letter, and
        # ㇰ..ㇿ are small katakana (Ainu place names) with no hiragana form.
        "ヷ": "ぶあ", "ヸ": "ぶい", "ヹ": "ぶえ", "ヺ": "ぶお",
        "ㇰ": "く", "ㇱ": "し", "ㇲ": "す", "ㇳ": "と", "ㇴ": "ぬ", "ㇵ": "は", "ㇶ": "ひ", "ㇷ": "ふ",
        "ㇸ": "へ", "ㇹ": "ほ", "ㇺ": "む", "ㇻ": "ら", "ㇼ": "り", "ㇽ": "る", "ㇾ": "れ", "ㇿ": "ろ",
    }
)

# Marks that lengthen or link sounds rather than carry meaning in a search.
_DROPPED = frozenset("ー〜〰")
_DROPPED_CATEGORIES = ("P", "S", "Z", "C", "M")

_SPLIT = re.compile(r"[\s,、，;；]+")


def fold_width(text: str) -> str:
    """Full-width letters/digits to ASCII and half-width kana to full-width (NFKC)."""
    return unicodedata.normalize("NFKC", text)


def _keep(char: str) -> bool:
    if char in _DROPPED:
        return False
    return not unicodedata.category(char).startswith(_DROPPED_CATEGORIES)


def normalize(text: str) -> str:
    """The comparison form of `text`: width-folded, lower-case, hiragana, no small kana,
    no long-vowel marks, no punctuation or spaces. Idempotent."""
    if not text:
        return ""
    text = fold_width(text).casefold()
    text = fold_width(text)
    # ヵ/ヶ first: kata2hira would turn them into か/け, and 3ヶ月 must meet 3か月 and 3カ月.
    text = jaconv.kata2hira(text.replace("ヵ", "か").replace("ヶ", "か")).translate(_KANA_FOLD)
    return "".join(char for char in text if _keep(char))


def split_terms(text: str) -> list[str]:
    """Split a search query or a keyword list into its words (spaces of either width,
    commas and Japanese commas), keeping the original spelling of each word."""
    return [term for term in _SPLIT.split(fold_width(text or "")) if term]


def has_kanji(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or char == "々" for char in text)
