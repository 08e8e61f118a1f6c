"""Japanese search over the procedure catalog.

How a query meets a procedure:

* Both sides are folded by `core.text.normalize` (width, case, katakana→hiragana, small
  kana, long-vowel marks, punctuation), so ﾏｲﾅﾝﾊﾞｰ, マイナンバー and まいなんばー meet.
* Both sides are also read by the morphological analyser (`core.reading`), so kana
  finds kanji (ほいく → 保育) and okurigana variants meet (申込 / 申し込み → もうしこみ).
* Readings people give a word in more than one way (出生: しゅっしょう / しゅっせい) are
  all indexed (`core.reading.VARIANT_READINGS`).
* Each word is expanded with its synonym group (引越し → 転居, 転入, 転出 ...), editable
  by the DX division in the admin (SynonymGroup). Inflected words are looked up in their
  dictionary form too (亡くなった → 亡くなる), so a group lists a verb once.
* Several words must all match (保育 証明); each may match anywhere in the procedure.
  A phrase is cut into its words when it finds nothing as a whole (家族が亡くなった →
  家族 + 亡くなる), and when no procedure has every word, those with at least half of
  them are shown (引っ越し 手続き: no name says 手続き).

The index is four normalised text columns on Procedure, kept in each process's memory
as one string (rebuilt when the catalog changes) and scanned with str.find; only the
matching rows are ranked, and only the page shown is loaded from the database. A whole
city's inventory (a few thousand procedures) is a few megabytes; bench/search_bench.py
measures it.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from tenohira.core.reading import content_morphemes, lemma, reading, reading_variants
from tenohira.core.text import has_kanji, normalize, split_terms

# Separates fields inside one index column; normalize() removes it from queries, so a
# query can never match across two fields.
SEP = "|"

# Ranking: the name beats keywords beats the rest; direct spellings beat synonyms and
# sound-alikes. Ties are broken by annual applications (the busiest procedure first).
SCORE_EXACT_NAME = 1000
SCORE_NAME = 200
SCORE_READING = 150
SCORE_KEYWORD = 100
SCORE_SYNONYM_NAME = 80
SCORE_SOUND_ALIKE = 60
SCORE_SYNONYM = 50
SCORE_OTHER = 10
_WEAK_SCORES = (SCORE_SOUND_ALIKE, SCORE_OTHER)

_COLUMNS = ("search_name", "search_reading", "search_keywords", "search_other")

# A reading shorter than this (子 → こ) would match half the catalog.
MIN_READING_LENGTH = 2
# Words of a query that are looked at: residents type two or three; the rest of a
# pasted sentence would only add scans (each word is several passes over the index).
MAX_TERMS = 8
# Below this many candidates, a further word is looked for in their rows alone.
FEW_ROWS = 300


def index_procedure(procedure) -> None:
    """Fill a procedure's reading (if empty) and its search columns. Does not save."""
    if not procedure.reading:
        procedure.reading = reading(procedure.name)
    keywords = split_terms(procedure.keywords)
    section = procedure.section
    procedure.indexed_at = timezone.now()
    procedure.search_name = normalize(procedure.name)
    procedure.search_reading = normalize(procedure.reading)
    procedure.search_keywords = SEP.join(
        part for keyword in keywords for part in (normalize(keyword), normalize(reading(keyword)))
    )
    events = [event.name for event in procedure.life_events.all()] if procedure.pk else []
    procedure.search_other = SEP.join(
        normalize(text)
        for text in (procedure.code, section.name, section.department.name, *events, procedure.summary)
        if text
    )


def reindex(procedures) -> None:
    """Refresh the search columns of stored procedures after a related change (a renamed
    section, changed life events)."""
    from tenohira.catalog.models import Procedure

    for procedure in procedures:
        index_procedure(procedure)
        Procedure.objects.filter(pk=procedure.pk).update(
            indexed_at=procedure.indexed_at, **{column: getattr(procedure, column) for column in _COLUMNS}
        )


# --- query analysis ---------------------------------------------------------------------


def _forms(term: str) -> set[str]:
    """Normalised spelling and reading of one word, and of its dictionary form when it
    is inflected (亡くなった → also 亡くなる, なくなる)."""
    forms = set()
    for text in {term, lemma(term) or term}:
        forms.add(normalize(text))
        sound = normalize(reading(text))
        if len(sound) >= MIN_READING_LENGTH:
            forms.add(sound)
    return {form for form in forms if form}


@dataclass
class SynonymIndex:
    groups: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, term_lists) -> SynonymIndex:
        groups: dict[str, frozenset[str]] = {}
        for terms in term_lists:
            members = frozenset(form for term in terms for form in _forms(term))
            for term in terms:
                for form in _forms(term):
                    groups[form] = groups.get(form, frozenset()) | members
        return cls(groups)

    def expand(self, forms: set[str]) -> set[str]:
        found: set[str] = set()
        for form in forms:
            found |= self.groups.get(form, frozenset())
        return found - forms


_synonym_cache: tuple[float, SynonymIndex] | None = None
SYNONYM_CACHE_SECONDS = 30


def synonym_index() -> SynonymIndex:
    """Synonym groups from the database, rebuilt at most every 30 s (and at once in the
    process that edits them, see signals)."""
    global _synonym_cache
    now = time.monotonic()
    if _synonym_cache is None or now - _synonym_cache[0] > SYNONYM_CACHE_SECONDS:
        from tenohira.catalog.models import SynonymGroup

        index = SynonymIndex.build(group.term_list for group in SynonymGroup.objects.all())
        _synonym_cache = (now, index)
    return _synonym_cache[1]


def forget_synonyms() -> None:
    global _synonym_cache
    _synonym_cache = None


@dataclass
class Term:
    """One word of a query with the forms it may take in the index."""

    typed: str
    surface: str  # normalised spelling
    sound: str  # normalised reading ("" when too short)
    synonyms: set[str]

    @property
    def is_kana(self) -> bool:
        return not has_kanji(self.typed)

    @property
    def all_forms(self) -> set[str]:
        return {self.surface, self.sound, *self.synonyms} - {""}


def _term(word: str, synonyms: SynonymIndex, dictionary_form: str | None = None) -> Term | None:
    surface = normalize(word)
    if not surface:
        return None
    sound = normalize(reading(word))
    if len(sound) < MIN_READING_LENGTH:
        sound = ""
    direct = {surface, sound} - {""}
    # The dictionary form only looks up synonyms: 亡くなる is in no procedure's name.
    base = dictionary_form if dictionary_form is not None else lemma(word)
    keys = direct | _forms(base) if base and base != word else direct
    return Term(word, surface, sound, synonyms.expand(keys) - direct)


def analyse(query: str, synonyms: SynonymIndex | None = None) -> list[Term]:
    synonyms = synonyms if synonyms is not None else synonym_index()
    terms = [term for term in (_term(word, synonyms) for word in split_terms(query)[:MAX_TERMS]) if term]
    # One kana or letter among other words (ご み, し し し) is in nearly every row: it
    # narrows nothing and costs a pass that matches the whole catalog. Alone, it is kept.
    meaningful = [term for term in terms if has_kanji(term.surface) or len(term.surface) > 1]
    return meaningful if meaningful else terms[:1]


# Kana phrases longer than this are not cut in two (each cut is two scans of the index);
# a half shorter than KANA_HALF (かん, とし) is in too many readings to mean anything.
MAX_KANA_SPLIT = 12
KANA_HALF = 3


def _kana_halves(term: Term, synonyms: SynonymIndex) -> list[list[Term]]:
    """A kana compound cut in two, the cut nearest the middle first: かいごにんてい →
    かいご + にんてい finds 要介護・要支援認定 (ようかいごようしえんにんてい), whose
    reading has a word between the two. The analyser cannot cut kana reliably (かい, ご)."""
    text = term.surface
    if not term.is_kana or not 2 * KANA_HALF <= len(text) <= MAX_KANA_SPLIT:
        return []
    cuts = sorted(range(KANA_HALF, len(text) - KANA_HALF + 1), key=lambda cut: abs(2 * cut - len(text)))
    return [[_term(text[:cut], synonyms, ""), _term(text[cut:], synonyms, "")] for cut in cuts]


def _phrase_readings(terms: list[Term], synonyms: SynonymIndex) -> list[list[Term]]:
    """Other ways to read a one-phrase query when it finds nothing as typed: its content
    words (保育園の申し込み → 保育園, 申し込み), then with compounds split
    (結婚届 → 結婚, 届)."""
    if len(terms) != 1:
        return []
    found: list[list[Term]] = []
    seen = {(terms[0].typed,)}
    for fine in (False, True):
        # One kana alone (き of 来た) is in half the readings: it is no word of a query.
        words = [(surface, base) for surface, base in content_morphemes(terms[0].typed, fine=fine)
                 if has_kanji(surface) or len(normalize(surface)) > 1]
        if tuple(surface for surface, _ in words) in seen:
            continue
        seen.add(tuple(surface for surface, _ in words))
        analysed = [_term(surface, synonyms, base) for surface, base in words[:MAX_TERMS]]
        analysed = [term for term in analysed if term is not None]
        if analysed:
            found.append(analysed)
    return found


# --- matching and ranking -----------------------------------------------------------------


@dataclass(frozen=True)
class IndexRow:
    pk: int
    name: str
    reading: str  # the stored reading, then its variants (core.reading.reading_variants), SEP between
    keywords: str
    other: str
    annual: int
    sort_name: str
    published: bool
    department_id: int


class MemoryIndex:
    """Every procedure's search columns in one string, scanned with str.find.

    A LIKE '%…%' scan costs one pass per column and per form a word expands to (引越し →
    11 forms → 44 passes), twice (page and count); here each form is one C-level pass
    over a few megabytes at most, and ranking touches only the rows that matched.
    """

    ROW = "\x01"
    COLUMN = "\x02"

    def __init__(self, rows: list[IndexRow], stamp: tuple):
        self.rows = rows
        self.stamp = stamp
        parts = []
        self.starts = []
        offset = 0
        for row in rows:
            text = self.COLUMN.join((row.name, row.reading, row.keywords, row.other)) + self.ROW
            self.starts.append(offset)
            parts.append(text)
            offset += len(text)
        self.blob = "".join(parts)

    def rows_with(self, form: str) -> set[int]:
        """Indices of the rows whose columns contain `form`."""
        found: set[int] = set()
        starts, find = self.starts, self.blob.find
        position = find(form)
        while position != -1:
            index = bisect_right(starts, position) - 1
            found.add(index)
            following = index + 1
            if following >= len(starts):
                break
            position = find(form, starts[following])
        return found

    def rows_among(self, rows: set[int], forms: list[str]) -> set[int]:
        """Those of `rows` that contain one of `forms`: each row's own text is searched,
        cheaper than passes over the whole index once few rows are left."""
        starts, blob, last = self.starts, self.blob, len(self.starts) - 1
        found = set()
        for index in rows:
            text = blob[starts[index]:starts[index + 1]] if index < last else blob[starts[index]:]
            if any(form in text for form in forms):
                found.add(index)
        return found


_index: MemoryIndex | None = None
_index_lock = threading.Lock()


def _name_reading(name: str) -> str:
    sound = normalize(reading(name))
    return sound if len(sound) >= MIN_READING_LENGTH else ""


def _stamp() -> tuple:
    """Changes whenever a procedure is added, removed, saved or reindexed (indexed_at)."""
    from tenohira.catalog.models import Procedure

    found = Procedure.objects.aggregate(count=Count("pk"), newest=Max("indexed_at"), last=Max("pk"))
    return (found["count"], found["newest"], found["last"])


def memory_index() -> MemoryIndex:
    """The process's index, rebuilt when the catalog changed (one small query to check)."""
    global _index
    from tenohira.catalog.models import Procedure

    stamp = _stamp()
    current = _index
    if current is not None and current.stamp == stamp:
        return current
    with _index_lock:
        if _index is not None and _index.stamp == stamp:
            return _index
        # Reading variants and the readings of the section and department (としょかん finds
        # 中央図書館's procedures) are added here rather than stored: they apply to a
        # catalog indexed before they existed, without reindexing it. The organisation's
        # readings come from its current names (a renamed section keeps its old よみ).
        rows = [
            IndexRow(
                pk, name, SEP.join(reading_variants(name, sound)), keywords,
                SEP.join(text for text in (other, _name_reading(section), _name_reading(department)) if text),
                annual, sort_name, published, department_id,
            )
            for (pk, name, sound, keywords, other, annual, sort_name, published, department_id, section,
                 department) in (
                Procedure.objects.order_by("pk").values_list(
                    "pk", *_COLUMNS, "annual_applications", "name", "is_published", "section__department_id",
                    "section__name", "section__department__name",
                )
            )
        ]
        _index = MemoryIndex(rows, stamp)
        return _index


def _term_score(term: Term, row: IndexRow) -> int:
    """Best applicable score of one word for one procedure (see docs/search.md)."""
    direct = [form for form in (term.surface, term.sound) if form]
    score = SCORE_OTHER
    if term.surface in row.name:
        return SCORE_NAME
    if term.sound and term.sound in row.reading:
        score = max(score, SCORE_READING if term.is_kana else SCORE_SOUND_ALIKE)
    if any(form in row.keywords for form in direct):
        score = max(score, SCORE_KEYWORD)
    if score > SCORE_SYNONYM_NAME or not term.synonyms:
        return score
    if any(form in row.name for form in term.synonyms):
        return max(score, SCORE_SYNONYM_NAME)
    if any(form in row.keywords or form in row.reading for form in term.synonyms):
        return max(score, SCORE_SYNONYM)
    return score


def rank(
    terms: list[Term],
    query: str,
    *,
    published_only: bool = True,
    department_id: int | None = None,
    minimum: int | None = None,
    scans: dict[str, set[int]] | None = None,
    index: MemoryIndex | None = None,
) -> list[int]:
    """Primary keys of the procedures matching every term, best first.

    With `minimum`, a procedure needs only that many of the terms; those with more terms
    come first, then a term counts more the fewer procedures it matches (学童保育 over
    申し込み in 学童保育 申し込み: the rare word is what the resident is looking for).
    `scans` keeps each form's rows between the attempts of one search, on one `index`.
    """
    if not terms:
        return []
    index = index or memory_index()
    scans = {} if scans is None else scans
    matches: list[set[int]] = []
    candidates: set[int] | None = None
    for term in terms:
        # A form that contains another (引越し, 引越) finds only rows the other finds.
        forms = sorted(term.all_forms, key=len)
        forms = [form for number, form in enumerate(forms) if not any(other in form for other in forms[:number])]
        if minimum is None and candidates is not None and len(candidates) <= FEW_ROWS:
            matched = index.rows_among(candidates, [form for form in forms if form not in scans])
            matched |= {row for form in forms if form in scans for row in scans[form] & candidates}
        else:
            matched = set()
            for form in forms:
                if form not in scans:
                    scans[form] = index.rows_with(form)
                matched |= scans[form]
        if minimum is None:
            candidates = matched if candidates is None else candidates & matched
            if not candidates:
                return []
        matches.append(matched)
    if minimum is not None:
        candidates = set().union(*matches)
    whole = normalize(query)
    scored = []
    for position in candidates:
        row = index.rows[position]
        if published_only and not row.published:
            continue
        if department_id and row.department_id != department_id:
            continue
        if minimum is None:
            score = sum(_term_score(term, row) for term in terms)
            count = len(terms)
        else:
            # Only what the resident wrote counts here: a kanji word that merely sounds like
            # part of a reading (宇宙 in よぼうちゅうしゃ) or names the section is no
            # evidence once another word has failed.
            present = [
                (points, matched)
                for term, matched in zip(terms, matches, strict=True)
                if position in matched and (points := _term_score(term, row)) not in _WEAK_SCORES
            ]
            count = len(present)
            if count < minimum:
                continue
            score = sum(points / len(matched) for points, matched in present)
        if whole and (row.name == whole or whole in row.reading.split(SEP)):
            score += SCORE_EXACT_NAME  # the whole query is the name, or (in kana) its reading
        # Equal scores: the busier procedure, then the shorter name (the word is more of it).
        scored.append((-count, -score, -row.annual, len(row.sort_name), row.sort_name, row.pk))
    scored.sort()
    return [entry[-1] for entry in scored]


class RankedProcedures(Sequence):
    """Ranked results that load only the page asked for (works with Django's Paginator)."""

    def __init__(self, pks: list[int], queryset: QuerySet):
        self.pks = pks
        self.queryset = queryset

    def count(self, value=None) -> int:  # Paginator calls count() with no argument
        return len(self.pks) if value is None else self.pks.count(value)

    def __len__(self) -> int:
        return len(self.pks)

    def _load(self, pks: list[int]) -> list:
        found = self.queryset.in_bulk(pks)
        return [found[pk] for pk in pks if pk in found]

    def __getitem__(self, item):
        if isinstance(item, slice):
            return self._load(self.pks[item])
        loaded = self._load([self.pks[item]])
        if not loaded:
            raise IndexError(item)
        return loaded[0]

    def __iter__(self):
        return iter(self._load(self.pks))


def search(
    queryset: QuerySet, query: str, *, published_only: bool = True, department_id: int | None = None
) -> tuple[RankedProcedures, list[Term]]:
    """Ranked matches for `query`, loaded through `queryset`.

    Tried in order until one finds something: every word as typed; for a single phrase,
    a kana compound cut in two (かいご + にんてい), its content words, then with compounds
    split (保育園の申し込み → 保育園 + 申し込み); then, for each of those with several words, at least half of its words
    (引っ越し 手続き → 引っ越し), so a word no procedure uses does not hide the others.
    """
    synonyms = synonym_index()
    typed = analyse(query, synonyms)
    phrases = _phrase_readings(typed, synonyms)
    halves = _kana_halves(typed[0], synonyms) if len(typed) == 1 else []
    options = {"published_only": published_only, "department_id": department_id, "scans": {}, "index": memory_index()}
    for terms in [typed, *halves, *phrases]:
        pks = rank(terms, query, **options)
        if pks:
            return RankedProcedures(pks, queryset), terms
    # Half of a kana cut is no word the resident chose: it never stands alone.
    for terms in [typed, *phrases]:
        if len(terms) > 1:
            pks = rank(terms, query, minimum=math.ceil(len(terms) / 2), **options)
            if pks:
                return RankedProcedures(pks, queryset), terms
    return RankedProcedures([], queryset), typed
