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

# Separators between the items of a list, in either width (､ is the half-width 、).
_SEPARATOR = re.compile(r"[\s,、，､;；]+")
# Brackets that hold an explanation of the item before them: 「本人確認書類（運転免許証、
# マイナンバーカード等）」 is one thing to bring, not two. Both widths, as residents and
# clerks type either.
_BRACKETS = {"（": "）", "(": ")", "「": "」", "｢": "｣", "『": "』", "【": "】", "［": "］", "[": "]",
             "〔": "〕", "〈": "〉", "《": "》", "｛": "｝", "{": "}"}
_CLOSERS = {closer: opener for opener, closer in _BRACKETS.items()}
_BRACKET_CHARS = re.compile("([" + re.escape("".join(_BRACKETS) + "".join(_CLOSERS)) + "])")


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
    """Split a search query or a list (keywords, 用意するもの) into its items at spaces of
    either width, commas, Japanese commas and semicolons, but never inside a pair of
    brackets: 「本人確認書類（運転免許証、マイナンバーカード等）、印鑑」 is two items.

    Each item is width-folded like `fold_width` (ﾎｲｸ → ホイク, ＰＣＲ → PCR) except its
    brackets, which stay as typed so that a list shown to residents keeps its （）.
    A bracket without its partner is ordinary text and protects nothing.
    """
    text = text or ""
    protected = _bracketed(text)
    terms, start = [], 0
    for match in _SEPARATOR.finditer(text):
        if protected[match.start()]:
            continue
        terms.append(text[start:match.start()])
        start = match.end()
    terms.append(text[start:])
    return [_fold_keeping_brackets(term) for term in terms if term]


def _bracketed(text: str) -> list[bool]:
    """For each position of `text`, whether it lies inside a matched pair of brackets."""
    inside = [False] * (len(text) + 1)
    open_at: list[tuple[str, int]] = []
    for index, char in enumerate(text):
        if char in _BRACKETS:
            open_at.append((char, index))
        elif char in _CLOSERS:
            # The nearest opener of the same kind; openers left unclosed in between are
            # ordinary text (「保育（0歳」、印鑑」 still protects its 「…」).
            for depth in range(len(open_at) - 1, -1, -1):
                if open_at[depth][0] == _CLOSERS[char]:
                    begin = open_at[depth][1]
                    inside[begin:index + 1] = [True] * (index + 1 - begin)
                    del open_at[depth:]
                    break
    return inside


def _fold_keeping_brackets(term: str) -> str:
    return "".join(part if _BRACKET_CHARS.fullmatch(part) else fold_width(part) for part in _BRACKET_CHARS.split(term))


def has_kanji(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or char == "々" for char in text)
