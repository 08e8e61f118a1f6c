"""tenohira.core.text: the one function that decides when two spellings are "the same"."""

import jaconv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenohira.core.text import fold_width, has_kanji, normalize, split_terms

# Deadlines are timings; a slow machine must not fail a property.
properties = settings(deadline=None, max_examples=300)

HIRAGANA = [chr(cp) for cp in range(0x3041, 0x3097)]  # ぁ .. ゖ
KATAKANA = [chr(cp) for cp in range(0x30A1, 0x30FB)]  # ァ .. ヺ
AINU_SMALL_KATAKANA = [chr(cp) for cp in range(0x31F0, 0x3200)]  # ㇰ .. ㇿ
HALF_WIDTH_KATAKANA = [chr(cp) for cp in range(0xFF66, 0xFF9E)]  # ｦ .. ﾝ
ASCII_ALNUM = [chr(cp) for cp in range(0x30, 0x3A)] + [chr(cp) for cp in range(0x41, 0x5B)] + [
    chr(cp) for cp in range(0x61, 0x7B)
]
KANJI = list("保育所証明住民票申込転入出居犬畜登録子供児童手当印鑑交付請求")

# Small kana and the large kana a resident would type instead. (ヶ is left out: in 3ヶ月
# and 霞ヶ関 it stands for か/が, not for a small ケ, so "equal to ケ" is no requirement.)
SMALL_TO_LARGE = {
    "ぁ": "あ", "ぃ": "い", "ぅ": "う", "ぇ": "え", "ぉ": "お", "っ": "つ", "ゃ": "や",
    "ゅ": "ゆ", "ょ": "よ", "ゎ": "わ", "ゕ": "か",
    "ァ": "ア", "ィ": "イ", "ゥ": "ウ", "ェ": "エ", "ォ": "オ", "ッ": "ツ", "ャ": "ヤ",
    "ュ": "ユ", "ョ": "ヨ", "ヮ": "ワ", "ヵ": "カ",
    "ㇰ": "ク", "ㇱ": "シ", "ㇲ": "ス", "ㇳ": "ト", "ㇴ": "ヌ", "ㇵ": "ハ", "ㇶ": "ヒ", "ㇷ": "フ",
    "ㇸ": "ヘ", "ㇹ": "ホ", "ㇺ": "ム", "ㇻ": "ラ", "ㇼ": "リ", "ㇽ": "ル", "ㇾ": "レ", "ㇿ": "ロ",
    "ｧ": "ｱ", "ｨ": "ｲ", "ｩ": "ｳ", "ｪ": "ｴ", "ｫ": "ｵ", "ｯ": "ﾂ", "ｬ": "ﾔ", "ｭ": "ﾕ", "ｮ": "ﾖ",
}

kana_text = st.text(alphabet=st.sampled_from(HIRAGANA + KATAKANA + ["ー"]), max_size=30)
hiragana_text = st.text(alphabet=st.sampled_from(HIRAGANA), max_size=30)
mixed_text = st.text(
    alphabet=st.sampled_from(
        HIRAGANA + KATAKANA + AINU_SMALL_KATAKANA + HALF_WIDTH_KATAKANA + ASCII_ALNUM + KANJI
        + list(" 　、。・ー-,.（）()ｰ〜")
    ),
    max_size=40,
)


def _is_katakana(char: str) -> bool:
    code = ord(char)
    return 0x30A0 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF65 <= code <= 0xFF9F


# --- properties ------------------------------------------------------------------------


@properties
@given(st.one_of(st.text(), mixed_text))
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@properties
@given(hiragana_text)
def test_katakana_and_hiragana_spellings_are_equal(text):
    assert normalize(jaconv.hira2kata(text)) == normalize(text)


@properties
@given(st.text(alphabet=st.sampled_from(KATAKANA + ASCII_ALNUM + HIRAGANA + list(" ー")), max_size=30))
def test_full_width_and_half_width_spellings_are_equal(text):
    full = jaconv.h2z(text, ascii=True, kana=True, digit=True)
    half = jaconv.z2h(text, ascii=True, kana=True, digit=True)
    assert normalize(full) == normalize(half) == normalize(text)


@properties
@given(kana_text, st.lists(st.integers(min_value=0, max_value=30), max_size=5), st.sampled_from(["ー", "ｰ"]))
def test_long_vowel_marks_anywhere_do_not_change_the_result(text, positions, mark):
    longer = text
    for position in sorted(positions, reverse=True):
        position = min(position, len(longer))
        longer = longer[:position] + mark + longer[position:]
    assert normalize(longer) == normalize(text)


@properties
@given(st.text(alphabet=st.sampled_from(list(SMALL_TO_LARGE) + HIRAGANA + KATAKANA), max_size=30))
def test_small_kana_equal_large_kana(text):
    large = "".join(SMALL_TO_LARGE.get(char, char) for char in text)
    assert normalize(text) == normalize(large)


@properties
@given(st.one_of(st.text(), mixed_text))
def test_output_has_no_uppercase_ascii_no_katakana_no_whitespace(text):
    result = normalize(text)
    assert not any("A" <= char <= "Z" for char in result)
    assert not any(_is_katakana(char) for char in result), result
    assert not any(char.isspace() for char in result)


@properties
@given(mixed_text)
def test_output_has_no_small_kana_or_long_vowel_mark(text):
    result = normalize(text)
    assert not set(result) & (set(SMALL_TO_LARGE) | {"ー", "ｰ"})


# --- examples -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("ﾏｲﾅﾝﾊﾞｰ", "マイナンバー"),
        ("ＰＣＲ", "pcr"),
        ("ＰＣＲ", "PCR"),
        ("ｐｃｒ検査", "PCR検査"),
        ("コンピューター", "コンピュータ"),
        ("キャッシュ", "キヤツシユ"),
        ("ホイク", "ほいく"),
        ("ﾎｲｸ", "ほいく"),
        ("ヴァイオリン", "ゔぁいおりん"),
        ("ヷイオリン", "ヴァイオリン"),
        ("3ヵ月", "3か月"),
        ("住民票（写し）", "住民票 写し"),
        ("１２３", "123"),
    ],
)
def test_spellings_that_mean_the_same_normalise_equal(left, right):
    assert normalize(left) == normalize(right)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ﾏｲﾅﾝﾊﾞｰ", "まいなんば"),
        ("ＰＣＲ検査", "pcr検査"),
        ("保育所等入所（在園）証明書", "保育所等入所在園証明書"),
        ("", ""),
        ("　 ", ""),
    ],
)
def test_normalize_examples(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("left", "right"),
    [("保育", "保健"), ("申込", "申し込み"), ("いぬ", "いな"), ("が", "か")],
)
def test_different_words_stay_different(left, right):
    # Okurigana variants meet through their readings (core.reading), not as text; and
    # voiced kana are a different sound, not a spelling variant.
    assert normalize(left) != normalize(right)


def test_fold_width():
    assert fold_width("ﾏｲﾅﾝﾊﾞｰ ＡＢＣ１２３") == "マイナンバー ABC123"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("保育　証明", ["保育", "証明"]),
        ("保育 証明", ["保育", "証明"]),
        ("保育　　 証明", ["保育", "証明"]),
        ("引越し、転居、転入", ["引越し", "転居", "転入"]),
        ("引越し，転居,転入;転出；住所変更", ["引越し", "転居", "転入", "転出", "住所変更"]),
        ("、保育、、証明、", ["保育", "証明"]),
        ("ﾎｲｸ　ＰＣＲ", ["ホイク", "PCR"]),
        ("", []),
        (None, []),
    ],
)
def test_split_terms(text, expected):
    assert split_terms(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("本人確認書類（運転免許証、マイナンバーカード等）、印鑑",
         ["本人確認書類（運転免許証、マイナンバーカード等）", "印鑑"]),
        ("通帳(本人名義、振込先) 印鑑", ["通帳(本人名義、振込先)", "印鑑"]),
        ("「転入届」、「転出証明書（前住所地で発行、原本）」", ["「転入届」", "「転出証明書（前住所地で発行、原本）」"]),
        ("【必須】申請書、［任意］委任状", ["【必須】申請書", "［任意］委任状"]),
        ("診断書（医師 記入のもの）　保険証", ["診断書（医師 記入のもの）", "保険証"]),
        # A bracket without its partner protects nothing.
        ("保育（0歳、印鑑", ["保育（0歳", "印鑑"]),
        ("保育）、印鑑", ["保育）", "印鑑"]),
        ("「保育（0歳」、印鑑", ["「保育（0歳」", "印鑑"]),
        # Brackets stay as typed; the rest is width-folded as before.
        ("ﾏｲﾅﾝﾊﾞｰｶｰﾄﾞ（ＰＣＲ、写し）", ["マイナンバーカード（PCR、写し）"]),
        ("a､b", ["a", "b"]),
    ],
)
def test_split_terms_keeps_brackets_together(text, expected):
    assert split_terms(text) == expected


# Items made of characters that width folding leaves alone and that are neither separators
# nor brackets, so that an item's expected form is the item itself.
WORD = st.text(st.sampled_from(HIRAGANA[:80] + KANJI + list("abcXYZ0189ー・")), min_size=1, max_size=6)
SEPARATORS = st.text(st.sampled_from([" ", "\u3000", "、", ",", "，", ";", "；", "\n"]), min_size=1, max_size=3)
PAIRS = [("（", "）"), ("(", ")"), ("「", "」"), ("【", "】"), ("［", "］"), ("『", "』")]


@st.composite
def list_items(draw):
    """An item such as 本人確認書類（運転免許証、マイナンバーカード等）: a word, optionally
    followed by a bracketed explanation that itself contains separators and brackets."""
    item = draw(WORD)
    for _ in range(draw(st.integers(0, 2))):
        opener, closer = draw(st.sampled_from(PAIRS))
        inner = draw(st.lists(WORD, min_size=1, max_size=3))
        joined = inner[0] + "".join(draw(SEPARATORS) + word for word in inner[1:])
        if draw(st.booleans()):
            nested_opener, nested_closer = draw(st.sampled_from(PAIRS))
            joined += draw(SEPARATORS) + nested_opener + draw(WORD) + draw(SEPARATORS) + draw(WORD) + nested_closer
        item += opener + joined + closer
    return item


@properties
@given(st.lists(list_items(), min_size=1, max_size=5), st.data())
def test_split_terms_never_splits_inside_brackets(items, data):
    text = items[0] + "".join(data.draw(SEPARATORS) + item for item in items[1:])
    prefix, suffix = data.draw(st.sampled_from(["", "、", " "])), data.draw(st.sampled_from(["", "、", " "]))
    # Full-width spaces and commas inside an item are width-folded like all but brackets.
    folded = str.maketrans({"\u3000": " ", "，": ",", "；": ";"})
    assert split_terms(prefix + text + suffix) == [item.translate(folded) for item in items]


@properties
@given(st.text(st.sampled_from(HIRAGANA[:20] + KANJI[:8] + list(" 　、,;；（）()「」【】［］")), max_size=30))
def test_split_terms_survives_its_own_join(text):
    """The catalog stores a list as its items joined with 、 and splits it again to show
    it: whatever was typed, the second split gives the same items, none empty."""
    terms = split_terms(text)
    assert all(terms)
    assert split_terms("、".join(terms)) == terms


@properties
@given(st.lists(WORD, max_size=6), st.data())
def test_split_terms_without_brackets_splits_at_every_separator(words, data):
    text = "".join(data.draw(SEPARATORS) + word for word in words)
    assert split_terms(text) == words


def test_has_kanji():
    assert has_kanji("保育")
    assert has_kanji("ほいく々")
    assert not has_kanji("ほいくホイクﾎｲｸ pcr")
