"""Japanese catalog search: does a resident find what they mean, and how fast.

    .venv/bin/python bench/search_bench.py            # fresh temporary SQLite
    .venv/bin/python bench/search_bench.py --db-url postgres://postgres@127.0.0.1:5432/tenohira_bench_search

1. Imports bench/data/names_only_catalog.csv through the real catalog importer: real
   procedure names of a Japanese city (部局, 所属, 手続名 only - no よみ, no keywords, as
   a DX division's inventory arrives), so every reading is derived by the analyser.
2. Runs every query of bench/data/search_queries.csv - what residents type: hiragana,
   katakana, half-width, everyday words, abbreviations, okurigana and reading variants,
   wrong kanji, several words, phrases - exactly as the search page does
   (selectors.search_procedures, first page, count). A query is a hit when one of the
   procedures the resident means is among the first three results.
3. Runs the same queries as a plain substring match over the names (the baseline: what a
   search without Japanese analysis finds) in the same run.
4. Pads the catalog with generated procedures to a city's size (--city, default 5,000)
   and times the same queries again.

Prints the top-3 hit rate of both, p50/p95 latency per query of both, every miss with
the top three it got, and the ratios. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import platform
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _database import create_database, setup_django

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CATALOG = DATA / "names_only_catalog.csv"
QUERIES = DATA / "search_queries.csv"
TARGET_HIT_RATE = 0.95
TARGET_P95_MS = 20.0
PAGE_SIZE = 20  # catalog.views.RESULTS_PER_PAGE
TOP = 3

# --- a realistic generated inventory ----------------------------------------------------
# Departments and sections follow the shapes of a mid-size Japanese city (cf. the DX
# division's inventory); subjects are what a section handles, actions what residents do.
ORGANISATION = {
    "総務部": {
        "総務法務課": ["公文書", "個人情報", "行政不服審査", "ふれあいセンター", "市民会館"],
        "防災危機管理課": ["消防団", "自主防災組織", "防災備蓄品", "避難行動要支援者名簿", "防災無線"],
        "人事課": ["職員採用試験", "会計年度任用職員", "インターンシップ"],
    },
    "政策開発部": {
        "ＤＸ戦略課": ["公共施設予約システム", "オープンデータ", "電子申請"],
        "広聴広報課": ["市長への手紙", "広報紙", "市政出前講座"],
    },
    "財務部": {
        "契約検査課": ["入札参加資格", "物品納入", "工事請負契約", "指名競争入札"],
        "公有資産マネジメント課": ["市有地", "行政財産の目的外使用", "普通財産"],
    },
    "税務部": {
        "市民税課": ["市民税・県民税", "軽自動車税", "法人市民税", "所得証明書", "課税証明書"],
        "資産税課": ["固定資産税", "家屋", "償却資産", "評価証明書", "名寄帳"],
        "納税課": ["納税証明書", "市税の口座振替", "分納", "滞納処分"],
    },
    "市民部": {
        "市民課": ["住民票の写し", "戸籍謄本", "印鑑登録", "転入", "転出", "転居", "婚姻", "出生"],
        "マイナンバー推進課": ["マイナンバーカード", "電子証明書", "個人番号カード"],
        "国民健康保険課": ["国民健康保険", "高額療養費", "出産育児一時金", "葬祭費"],
        "国保税収納課": ["国民健康保険税", "国保税の口座振替"],
        "年金課": ["国民年金", "付加年金", "年金の免除"],
    },
    "文化スポーツ部": {
        "スポーツ振興課": ["体育館", "運動公園", "スポーツ少年団", "市民マラソン"],
        "文化振興課": ["文化財", "美術館", "文化芸術活動"],
    },
    "環境部": {
        "環境政策課": ["太陽光発電設備", "蓄電池", "電気自動車", "生け垣"],
        "３Ｒ推進課": ["粗大ごみ", "事業系一般廃棄物", "生ごみ処理機", "資源物の集団回収"],
        "環境保全センター": ["ごみの自己搬入", "し尿くみ取り", "浄化槽"],
        "生活環境課": ["犬", "狂犬病予防注射", "空き地の除草", "騒音", "墓地"],
    },
    "保健福祉部": {
        "保健福祉総務課": ["民生委員", "戦没者遺族", "災害見舞金"],
        "障がい福祉課": ["身体障害者手帳", "療育手帳", "補装具", "日常生活用具", "障害福祉サービス"],
        "介護保険課": ["要介護認定", "介護保険料", "住宅改修", "福祉用具購入費", "負担限度額"],
        "健康づくり課": ["予防接種", "がん検診", "特定健診", "健康相談", "ＰＣＲ検査"],
        "健康長寿課": ["高齢者の緊急通報装置", "配食サービス", "敬老祝金", "老人クラブ"],
        "生活支援課": ["生活保護", "住居確保給付金", "自立相談"],
        "生活衛生課": ["飲食店営業", "美容所", "旅館業", "浄水器"],
    },
    "こども部": {
        "こども家庭未来課": ["児童手当", "児童扶養手当", "ひとり親家庭", "こども医療費", "母子健康手帳"],
        "保育課": ["保育所", "認定こども園", "一時保育", "病児保育", "保育料", "学童保育"],
        "こども政策課": ["放課後児童クラブ", "子育て支援センター", "ファミリー・サポート"],
    },
    "農林部": {
        "農業政策課": ["農業経営", "新規就農", "農業用機械", "鳥獣被害"],
        "農地課": ["農地転用", "農地の貸し借り", "農業振興地域"],
        "林業振興課": ["森林経営", "間伐", "林道"],
    },
    "産業観光部": {
        "産業雇用政策課": ["創業", "中小企業融資", "雇用奨励金", "商店街"],
        "観光課": ["観光案内所", "ロケ撮影", "観光ボランティア", "イベント"],
    },
    "建設部": {
        "道路維持課": ["道路占用", "道路の損傷", "街路灯", "道路工事"],
        "住宅政策課": ["市営住宅", "空き家", "住宅リフォーム", "耐震診断"],
    },
    "都市構想部": {
        "公園緑地課": ["公園の使用", "緑化", "都市公園占用"],
        "開発建築指導課": ["建築確認", "開発行為", "屋外広告物", "長期優良住宅"],
        "総合交通政策課": ["コミュニティバス", "自転車駐車場", "放置自転車"],
    },
    "上下水道局": {
        "お客様サービス課": ["水道の使用開始", "水道の使用中止", "水道料金", "下水道使用料"],
        "下水道課": ["排水設備", "下水道の接続", "浄化槽設置"],
    },
    "教育総務部": {
        "教育総務課": ["就学援助", "奨学金", "学校施設の開放"],
        "生涯学習課": ["公民館", "生涯学習講座", "社会教育団体"],
    },
    "学校教育部": {
        "学校教育推進課": ["就学", "転校", "区域外就学", "学校給食費"],
    },
    "教育委員会": {
        "中央図書館": ["図書館の利用者カード", "図書のリクエスト", "団体貸出"],
        "中央公民館": ["公民館の使用", "サークル登録"],
    },
    "選挙管理委員会": {"選挙管理委員会事務局": ["期日前投票", "不在者投票", "選挙公報"]},
    "農業委員会": {"農業委員会事務局": ["農地法の許可", "農家証明", "耕作証明"]},
    "議会事務局": {"議会事務局": ["請願", "陳情", "議会の傍聴"]},
}

ACTIONS = [
    "の申請", "の申込み", "の届出", "の変更届", "の廃止届", "の交付申請", "の再交付申請",
    "の証明書交付", "の登録", "の登録変更", "の更新申請", "の補助金交付申請", "の助成申請",
    "の減免申請", "の相談予約", "の認定申請", "の許可申請", "の実績報告", "の請求",
    "の取消し届", "に関する意見書", "の利用申込", "の使用許可申請", "の口座振替依頼",
    "の照会", "の閲覧申請", "の写しの交付", "の加入届", "の喪失届", "の事前協議", "の完了届",
    "の還付請求", "の継続申請",
]

KEYWORDS = {
    "保育所": "保育園、入園", "粗大ごみ": "ゴミ、大型ごみ", "犬": "いぬ、ペット", "転入": "引っ越し",
    "転出": "引っ越し", "転居": "引越し", "マイナンバーカード": "個人番号カード",
    "国民健康保険": "国保", "児童手当": "こども、手当", "予防接種": "ワクチン",
    "ＰＣＲ検査": "PCR", "放課後児童クラブ": "学童", "空き家": "あきや",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", help="PostgreSQL database to create, use and drop; its name must start with "
                        "tenohira_bench (default: a fresh temporary SQLite)")
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per query first (default 2)")
    parser.add_argument("--city", type=int, default=5000,
                        help="procedures to pad the catalog to for the second timing (default 5000; 0 skips it)")
    parser.add_argument("--city-repeat", type=int, default=5, help="timed runs per query at city size (default 5)")
    parser.add_argument("--seed", type=int, default=2024)
    return parser.parse_args(argv)


@dataclass
class Query:
    text: str
    expected: list[str]
    what: str
    top: list[str] = field(default_factory=list)
    baseline_top: list[str] = field(default_factory=list)

    @property
    def hit(self) -> bool:
        return any(name in self.top for name in self.expected)

    @property
    def baseline_hit(self) -> bool:
        return any(name in self.baseline_top for name in self.expected)


def load_queries() -> list[Query]:
    with QUERIES.open(encoding="utf-8", newline="") as handle:
        return [Query(row["query"], row["expected"].split("|"), row["what"]) for row in csv.DictReader(handle)]


def prepare(data_dir: str, db_url: str | None) -> str:
    if db_url:
        atexit.register(create_database(db_url))
    else:
        db_url = f"sqlite:///{data_dir}/bench.sqlite3"
    setup_django(data_dir, db_url)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return db_url


def import_names_only() -> tuple[int, float]:
    """The catalog through the real importer, as the DX division would upload it."""
    from tenohira.catalog.services import import_catalog

    started = time.perf_counter()
    result = import_catalog(CATALOG)
    return result.created, time.perf_counter() - started


def ours(query: str) -> list[str]:
    """What the search page does: the ranked results, the first page, the count."""
    from tenohira.catalog import selectors

    results, _terms = selectors.search_procedures(query)
    page = results[:PAGE_SIZE]
    results.count()
    return [procedure.name for procedure in page[:TOP]]


def baseline(query: str) -> list[str]:
    """A plain substring match over the names, in catalog order: the same page and count."""
    from tenohira.catalog.models import Procedure

    results = Procedure.objects.filter(is_published=True, name__contains=query.strip()).order_by("pk")
    page = list(results[:PAGE_SIZE])
    results.count()
    return [procedure.name for procedure in page[:TOP]]


def engine(query: str) -> list[int]:
    """The search alone (analysis, freshness check of the index, matching, ranking),
    without the page's queryset and rows."""
    from tenohira.catalog import search
    from tenohira.catalog.models import Procedure

    results, _terms = search.search(Procedure.objects.none(), query)
    return results.pks[:TOP]


def measure(function, queries: list[Query], repeat: int, warmup: int) -> tuple[list[float], list]:
    """Milliseconds of every timed run of every query, and each query's last result."""
    samples, results = [], []
    for query in queries:
        for _ in range(warmup):
            function(query.text)
        for _ in range(repeat):
            started = time.perf_counter()
            result = function(query.text)
            samples.append((time.perf_counter() - started) * 1000)
        results.append(result)
    return samples, results


def run(queries: list[Query], repeat: int, warmup: int) -> tuple[list[float], list[float], list[float]]:
    """Times the page path, the search alone and the baseline; keeps the tops."""
    our_samples, tops = measure(ours, queries, repeat, warmup)
    engine_samples, _ = measure(engine, queries, repeat, warmup)
    base_samples, base_tops = measure(baseline, queries, repeat, warmup)
    for query, top, base_top in zip(queries, tops, base_tops, strict=True):
        query.top, query.baseline_top = top, base_top
    return our_samples, engine_samples, base_samples


def profile(queries: list[Query]) -> dict[str, float]:
    """Mean milliseconds per query of each part of one run: the search itself (query
    analysis, the freshness check of the in-memory index, matching and ranking), the
    queryset of published procedures the page uses, and loading the first page."""
    from tenohira.catalog import search, selectors
    from tenohira.catalog.models import Procedure

    parts = dict.fromkeys(["search: analysis + match + rank", "published_procedures() queryset",
                           "first page from the database"], 0.0)
    plain = Procedure.objects.all()
    for query in queries:
        t0 = time.perf_counter()
        results, _terms = search.search(plain, query.text)
        t1 = time.perf_counter()
        queryset = selectors.published_procedures()
        t2 = time.perf_counter()
        list(search.RankedProcedures(results.pks, queryset)[:PAGE_SIZE])
        t3 = time.perf_counter()
        for name, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            parts[name] += seconds * 1000 / len(queries)
    return parts


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: the value below which pct % of the measurements fall."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without float error
    return ordered[int(rank) - 1]


def latency_line(label: str, samples: list[float]) -> str:
    return (f"{label}: p50 {statistics.median(samples):.2f} ms, p95 {percentile(samples, 95):.2f} ms, "
            f"max {max(samples):.2f} ms ({len(samples)} runs)")


def pad_to_city(target: int, seed: int) -> tuple[int, float]:
    """Generated procedures (no よみ: derived like the importer does) up to `target`."""
    from django.db import connection, transaction

    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.catalog.search import index_procedure
    from tenohira.core.reading import reading

    started = time.perf_counter()
    rng = random.Random(seed)
    existing = set(Procedure.objects.values_list("section__department__name", "section__name", "name"))
    candidates = []
    with transaction.atomic():
        for order, (dept_name, sections) in enumerate(ORGANISATION.items(), start=100):
            department, _ = Department.objects.get_or_create(
                name=dept_name, defaults={"reading": reading(dept_name), "order": order}
            )
            for section_order, (section_name, subjects) in enumerate(sections.items(), start=1):
                section, _ = Section.objects.get_or_create(
                    department=department, name=section_name,
                    defaults={"reading": reading(section_name), "order": section_order},
                )
                section.department = department
                for subject in subjects:
                    for action in ACTIONS:
                        name = f"{subject}{action}"
                        if (dept_name, section_name, name) not in existing:
                            candidates.append((section, subject, name))
        rng.shuffle(candidates)
        wanted = max(0, target - Procedure.objects.count())
        if wanted > len(candidates):
            raise SystemExit(f"the word lists give only {len(candidates)} new procedures; lower --city")
        batch = []
        for number, (section, subject, name) in enumerate(candidates[:wanted], start=1):
            # No ways to apply: like a names-only inventory, a counter procedure at its section.
            procedure = Procedure(
                code=f"GEN-{number:05d}",
                section=section,
                name=name,
                reading="",  # derived by index_procedure, as the importer does for a bare list
                keywords=KEYWORDS.get(subject, "") if rng.random() < 0.6 else "",
                summary=f"{section.name}が受け付ける{subject}に関する手続きです。",
                annual_applications=int(rng.lognormvariate(4, 1.8)),
                processing_days=rng.choice([None, 7, 14, 30]),
            )
            index_procedure(procedure)
            batch.append(procedure)
            if len(batch) == 500:
                Procedure.objects.bulk_create(batch)
                batch = []
        Procedure.objects.bulk_create(batch)
    with connection.cursor() as cursor:  # planner statistics, as autovacuum would gather
        cursor.execute("ANALYZE")
    return wanted, time.perf_counter() - started


def main(argv=None) -> None:
    args = parse_args(argv)
    data_dir = tempfile.mkdtemp(prefix="tenohira-bench-")
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    db_url = prepare(data_dir, args.db_url)

    from django.db import connection

    from tenohira.catalog.models import Procedure

    created, seconds = import_names_only()
    queries = load_queries()
    names = set(Procedure.objects.values_list("name", flat=True))
    unknown = sorted({name for query in queries for name in query.expected} - names)
    if unknown:
        raise SystemExit(f"{QUERIES.name} expects procedures that are not in {CATALOG.name}: {unknown}")

    where = "temporary file" if not args.db_url else db_url.rsplit("@", 1)[-1]
    print(f"database: {connection.vendor} ({where}); Python {platform.python_version()} on {platform.machine()}")
    print(f"catalog: {created} procedures imported from {CATALOG.name} in {seconds:.1f} s; "
          f"readings derived: {Procedure.objects.exclude(reading='').count()}")
    print(f"{len(queries)} queries x {args.repeat} timed runs after {args.warmup} warm-up runs; "
          f"one run = search_procedures(q) + first {PAGE_SIZE} rows + count; hit = an expected procedure "
          f"in the top {TOP}\n")

    our_samples, engine_samples, base_samples = run(queries, args.repeat, args.warmup)

    misses = [query for query in queries if not query.hit]
    if misses:
        print(f"misses ({len(misses)}):")
    for query in misses:
        print(f"  {query.text}  [{query.what}]  expected {' / '.join(query.expected)}")
        print(f"      got: {' / '.join(query.top) or '(nothing)'}")
    hits = sum(query.hit for query in queries)
    base_hits = sum(query.baseline_hit for query in queries)
    rate, base_rate = hits / len(queries), base_hits / len(queries)
    p95, base_p95 = percentile(our_samples, 95), percentile(base_samples, 95)
    print()
    print(f"top-{TOP} hit rate: {hits}/{len(queries)} = {rate:.1%} "
          f"(substring match over the names: {base_hits}/{len(queries)} = {base_rate:.1%})")
    print(latency_line(f"latency, {created} procedures, search page path", our_samples))
    print(latency_line("  of which the search alone", engine_samples))
    print(latency_line("substring baseline", base_samples))
    print(f"p95 ratio search page path / substring: {p95 / base_p95:.1f}x")
    print("where the time of a run goes (mean ms per query):")
    for name, ms in profile(queries).items():
        print(f"  {name:<36} {ms:6.2f}")

    city_p95 = None
    if args.city > created:
        generated, build_seconds = pad_to_city(args.city, args.seed)
        total = Procedure.objects.count()
        print(f"\ncity size: {generated} generated procedures added in {build_seconds:.1f} s "
              f"({total} in all); the same queries x {args.city_repeat} runs")
        city_samples, city_engine, city_base = run(queries, args.city_repeat, 1)
        city_p95 = percentile(city_samples, 95)
        print(latency_line(f"latency, {total} procedures, search page path", city_samples))
        print(latency_line("  of which the search alone", city_engine))
        print(latency_line("substring baseline", city_base))
        print(f"p95 ratio search page path / substring: {city_p95 / percentile(city_base, 95):.1f}x")
        print("where the time of a run goes (mean ms per query):")
        for name, ms in profile(queries).items():
            print(f"  {name:<36} {ms:6.2f}")

    print()
    print(f"hit rate >= {TARGET_HIT_RATE:.0%}: {'PASS' if rate >= TARGET_HIT_RATE else 'FAIL'} ({rate:.1%})")
    worst = max(p95, city_p95 or 0)
    print(f"p95 < {TARGET_P95_MS:.0f} ms: {'PASS' if worst < TARGET_P95_MS else 'FAIL'} ({worst:.2f} ms)")


if __name__ == "__main__":
    main()
