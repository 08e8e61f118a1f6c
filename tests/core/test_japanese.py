"""tenohira.core.japanese: furigana, phone numbers, postal codes and width as residents
type them on a phone (full or half width, with or without hyphens)."""

import re

import jaconv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tenohira.core.japanese import (
    InputError,
    fold_code,
    format_phone,
    furigana,
    lookup_postal_code,
    phone,
    postal_code,
)

# Property tests assert behaviour, never speed: a busy machine must not fail them.
no_deadline = settings(deadline=None)

# Everyday katakana (the ones with a half-width form, plus the small letters).
KATAKANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲン" \
    "ガギグゲゴザジズゼゾダヂヅデドバビブベボパピプペポヴァィゥェォッャュョー"
HIRAGANA = jaconv.kata2hira(KATAKANA.replace("ヴ", "").replace("ー", ""))
KANJI = "山田太郎花子鈴木一郎市役所"
HYPHENS = ["-", "‐", "‑", "‒", "–", "—", "―", "−", "ー", "ｰ", "－", " ", "　", ""]
PHONE_SEPARATORS = re.compile(r"[^0-9]")

katakana_words = st.text(alphabet=KATAKANA, min_size=1, max_size=12).filter(lambda w: w.strip("ー"))
hiragana_words = st.text(alphabet=HIRAGANA, min_size=1, max_size=12)


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


def mixed_width(text: str, data) -> str:
    return "".join(full_width(c) if data.draw(st.booleans()) else c for c in text)


# --- furigana ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("やまだ", "ヤマダ"),
        ("ヤマダ", "ヤマダ"),
        ("ﾔﾏﾀﾞ", "ヤマダ"),
        ("ｽｽﾞｷ ｲﾁﾛｳ", "スズキ イチロウ"),
        ("  やまだ　　たろう ", "ヤマダ タロウ"),
        ("ゔぃおら", "ヴィオラ"),
        ("じょーじ", "ジョージ"),
    ],
)
def test_furigana_examples(typed, stored):
    assert furigana(typed) == stored


@no_deadline
@given(hiragana_words)
def test_hiragana_becomes_the_same_word_in_katakana(word):
    result = furigana(word)
    assert jaconv.kata2hira(result) == word
    assert all("\u30a1" <= c <= "\u30fa" for c in result)


@no_deadline
@given(katakana_words)
def test_half_width_kana_becomes_full_width(word):
    half = jaconv.z2h(word, kana=True, ascii=False, digit=False)
    assert furigana(half) == word


@no_deadline
@given(st.lists(katakana_words | hiragana_words, min_size=1, max_size=3), st.sampled_from([" ", "\u3000", "  "]))
def test_furigana_is_idempotent_and_spaces_collapse(words, space):
    result = furigana(space.join(words))
    assert furigana(result) == result
    assert "  " not in result and "\u3000" not in result
    assert result.count(" ") == len(words) - 1


@no_deadline
@given(katakana_words, st.sampled_from(list(KANJI) + list("abcXYZ") + list("ＡＢｃ") + list("0１")), st.data())
def test_kanji_latin_and_digits_are_refused_in_japanese(word, intruder, data):
    position = data.draw(st.integers(0, len(word)))
    with pytest.raises(InputError) as raised:
        furigana(word[:position] + intruder + word[position:])
    assert str(raised.value) == "フリガナはカタカナ（またはひらがな）で入力してください。"


@pytest.mark.parametrize("typed", ["", "   ", "\u3000"])
def test_empty_furigana_asks_for_it(typed):
    with pytest.raises(InputError, match="フリガナを入力してください"):
        furigana(typed)


# --- phone numbers --------------------------------------------------------------------------

mobile_numbers = st.builds(lambda prefix, rest: prefix + rest, st.sampled_from(["070", "080", "090"]),
                           st.text(alphabet="0123456789", min_size=8, max_size=8))
landline_numbers = st.builds(lambda first, rest: "0" + first + rest, st.sampled_from("123456789"),
                             st.text(alphabet="0123456789", min_size=8, max_size=8))
free_dial = st.builds(lambda rest: "0120" + rest, st.text(alphabet="0123456789", min_size=6, max_size=6))
valid_numbers = mobile_numbers | landline_numbers | free_dial


def grouped(digits: str, cuts: list[int], separators: list[str]) -> str:
    parts, start = [], 0
    for cut in sorted(set(cuts)):
        parts.append(digits[start:cut])
        start = cut
    parts.append(digits[start:])
    text = parts[0]
    for index, part in enumerate(parts[1:]):
        text += separators[index % len(separators)] + part
    return text


@no_deadline
@given(valid_numbers, st.data())
def test_any_grouping_and_width_gives_the_digits(digits, data):
    cuts = data.draw(st.lists(st.integers(1, len(digits) - 1), max_size=3))
    separators = data.draw(st.lists(st.sampled_from(HYPHENS), min_size=1, max_size=3))
    typed = mixed_width(grouped(digits, cuts, separators), data)
    assert phone(typed) == digits


@no_deadline
@given(valid_numbers, st.sampled_from(["+81", "+81 ", "+81-", "＋８１", "+81 (0)"]), st.sampled_from(HYPHENS))
def test_international_form_gives_the_domestic_digits(digits, prefix, separator):
    typed = prefix + digits[1:4] + separator + digits[4:]
    assert phone(typed) == digits


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("090-1234-5678", "09012345678"),
        ("09012345678", "09012345678"),
        ("０９０ー１２３４ー５６７８", "09012345678"),
        ("03(1234)5678", "0312345678"),
        ("024-924-2111", "0249242111"),
        ("+81 90 1234 5678", "09012345678"),
        ("+81-3-1234-5678", "0312345678"),
        ("0120-123-456", "0120123456"),
    ],
)
def test_phone_examples(typed, stored):
    assert phone(typed) == stored


@no_deadline
@given(st.text(alphabet="0123456789", min_size=1, max_size=14).filter(lambda d: len(d) not in (9, 10)), st.data())
def test_wrong_digit_counts_are_refused(rest, data):
    digits = "0" + rest  # any length but 10 or 11
    typed = grouped(digits, data.draw(st.lists(st.integers(1, max(1, len(digits) - 1)), max_size=2)), ["-"])
    with pytest.raises(InputError) as raised:
        phone(typed)
    assert "桁数が正しくありません" in str(raised.value)


@no_deadline
@given(st.sampled_from("1346"), st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_eleven_digits_are_only_mobile_ip_or_free_dial_numbers(first, rest):
    digits = "0" + first + rest
    if digits[:3] in {"060"} or digits.startswith("0120"):  # FMC and free dial may have 11 digits
        assert phone(digits) == digits
        return
    with pytest.raises(InputError, match="市外局番から入力してください"):
        phone(digits)


@pytest.mark.parametrize("typed", ["090-1234-567a", "でんわ", "090/1234/5678"])
def test_letters_in_a_phone_number_are_refused(typed):
    with pytest.raises(InputError, match="電話番号は数字で入力してください"):
        phone(typed)


def test_no_leading_zero_is_refused():
    with pytest.raises(InputError, match="0から始まる10桁または11桁"):
        phone("9012345678")


def test_empty_phone_asks_for_it():
    with pytest.raises(InputError, match="電話番号を入力してください"):
        phone(" ")


@no_deadline
@given(valid_numbers)
def test_formatting_keeps_the_digits(digits):
    assert PHONE_SEPARATORS.sub("", format_phone(digits)) == digits
    assert phone(format_phone(digits)) == digits


def test_mobile_numbers_are_shown_hyphenated():
    assert format_phone("09012345678") == "090-1234-5678"
    assert format_phone("0120123456") == "0120-123-456"


# --- postal codes ---------------------------------------------------------------------------

seven_digits = st.text(alphabet="0123456789", min_size=7, max_size=7)


@no_deadline
@given(seven_digits, st.sampled_from(["", "〒", "〒 ", "〒　"]), st.sampled_from(HYPHENS), st.data())
def test_postal_code_in_any_width_and_hyphen_gives_one_form(digits, mark, hyphen, data):
    typed = mark + mixed_width(digits[:3] + hyphen + digits[3:], data)
    assert postal_code(typed) == f"{digits[:3]}-{digits[3:]}"


@no_deadline
@given(st.text(alphabet="0123456789", min_size=1, max_size=12).filter(lambda d: len(d) != 7))
def test_postal_code_needs_seven_digits(digits):
    with pytest.raises(InputError, match="郵便番号は7桁の数字で入力してください"):
        postal_code(digits)


@pytest.mark.parametrize("typed", ["963-86O1", "abc-defg", "963_8601"])
def test_postal_code_with_letters_is_refused(typed):
    with pytest.raises(InputError, match="7桁の数字"):
        postal_code(typed)


def test_empty_postal_code_asks_for_it():
    with pytest.raises(InputError, match="郵便番号を入力してください"):
        postal_code("〒")


def test_lookup_postal_code_reads_the_bundled_data():
    koriyama = lookup_postal_code("963-8601")
    assert koriyama["prefecture"] == "福島県" and koriyama["city"] == "郡山市"
    # The city hall's own code (事業所個別番号) also gives the street number.
    assert koriyama["town"] == "朝日" and koriyama["street"] == "1丁目23-7"
    assert lookup_postal_code("100-0001") == {"prefecture": "東京都", "city": "千代田区", "town": "千代田", "street": ""}
    assert lookup_postal_code("1000001") == lookup_postal_code("100-0001")
    assert lookup_postal_code("000-0000") is None


# --- width ---------------------------------------------------------------------------------


@no_deadline
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20))
def test_full_width_codes_fold_to_ascii(code):
    assert fold_code(full_width(code)) == code
    assert fold_code(code) == code


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=10))
def test_fold_code_strips_spaces_of_either_width(code):
    assert fold_code("\u3000 " + full_width(code) + " \u3000") == code


def test_half_width_kana_in_codes_becomes_full_width():
    assert fold_code("ｱｲｳ１２３") == "アイウ123"


def test_postal_lookup_works_from_any_thread():
    # The first lookup in this thread, then lookups from other threads (a threaded server):
    # each thread must get an answer, not SQLite's "objects created in a thread" error.
    import threading

    assert lookup_postal_code("963-8601")["city"] == "郡山市"
    results, errors = [], []

    def look():
        try:
            results.append(lookup_postal_code("9638601")["prefecture"])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=look) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert results == ["福島県"] * 4
