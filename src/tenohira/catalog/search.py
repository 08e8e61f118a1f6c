"""Japanese search over the procedure catalog.

How a query meets a procedure:

* Both sides are folded by `core.text.normalize` (width, case, katakana→hiragana, small
  kana, long-vowel marks, punctuation), so ﾏｲﾅﾝﾊﾞｰ, マイナンバー and まいなんばー meet.
* Both sides are also read by the morphological analyser (`core.reading`), so kana
  finds kanji (ほいく → 保育) and okurigana variants meet (申込 / 申し込み → もうしこみ).
* Each word is expanded with its synonym group (引越し → 転居, 転入, 転出 ...), editable
  by the DX division in the admin (SynonymGroup).
* Several words must all match (保育 証明); each may match anywhere in the procedure.

The index is four normalised text columns on Procedure, kept in each process's memory
as one string (rebuilt when the catalog changes) and scanned with str.find; only the
matching rows are ranked, and only the page shown is loaded from the database. A whole
city's inventory (a few thousand procedures) is a few megabytes; bench/search_bench.py
measures it.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from tenohira.core.reading import content_words, reading
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

_COLUMNS = ("search_name", "search_reading", "search_keywords", "search_other")

# A reading shorter than this (子 → こ) would match half the catalog.
MIN_READING_LENGTH = 2


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
    """Normalised spelling and reading of one word."""
    forms = {normalize(term)}
    sound = normalize(reading(term))
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


def analyse(query: str, synonyms: SynonymIndex | None = None) -> list[Term]:
    synonyms = synonyms if synonyms is not None else synonym_index()
    terms = []
    for word in split_terms(query):
        surface = normalize(word)
        if not surface:
            continue
        sound = normalize(reading(word))
        if len(sound) < MIN_READING_LENGTH:
            sound = ""
        direct = {surface, sound} - {""}
        terms.append(Term(word, surface, sound, synonyms.expand(direct)))
    return terms


# --- matching and ranking -----------------------------------------------------------------


@dataclass(frozen=True)
class IndexRow:
    pk: int
    name: str
    reading: str
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


_index: MemoryIndex | None = None
_index_lock = threading.Lock()


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
        rows = [
            IndexRow(pk, name, reading, keywords, other, annual, sort_name, published, department_id)
            for pk, name, reading, keywords, other, annual, sort_name, published, department_id in (
                Procedure.objects.order_by("pk").values_list(
                    "pk", *_COLUMNS, "annual_applications", "name", "is_published", "section__department_id"
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


def rank(terms: list[Term], query: str, *, published_only: bool = True, department_id: int | None = None) -> list[int]:
    """Primary keys of the procedures matching every term, best first."""
    if not terms:
        return []
    index = memory_index()
    candidates: set[int] | None = None
    for term in terms:
        matched: set[int] = set()
        for form in term.all_forms:
            matched |= index.rows_with(form)
        candidates = matched if candidates is None else candidates & matched
        if not candidates:
            return []
    whole = normalize(query)
    scored = []
    for position in candidates:
        row = index.rows[position]
        if published_only and not row.published:
            continue
        if department_id and row.department_id != department_id:
            continue
        score = sum(_term_score(term, row) for term in terms)
        if whole and (row.name == whole or row.reading == whole):
            score += SCORE_EXACT_NAME  # the whole query is the name, or (in kana) its reading
        scored.append((-score, -row.annual, row.sort_name, row.pk))
    scored.sort()
    return [entry[3] for entry in scored]


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
    """Ranked matches for `query`, loaded through `queryset`. When a single phrase finds
    nothing, its content words are tried together (保育園の申し込み → 保育園 + 申し込み)."""
    terms = analyse(query)
    options = {"published_only": published_only, "department_id": department_id}
    pks = rank(terms, query, **options)
    if len(terms) == 1 and not pks:
        words = content_words(terms[0].typed)
        if len(words) > 1:
            terms = analyse(" ".join(words))
            pks = rank(terms, query, **options)
    return RankedProcedures(pks, queryset), terms
