"""Japanese catalog search over a city-sized inventory: how long a resident waits.

    .venv/bin/python bench/search_bench.py                 # fresh temporary SQLite
    .venv/bin/python bench/search_bench.py --db-url postgres://postgres@127.0.0.1:5432/tenohira_bench

Builds >= 5,000 procedures (the demo city's catalog when present, plus generated ones whose
readings are derived by the same analyser the importer uses), then times the path a
resident's request takes - selectors.search_procedures(q), the first page of 20 and the
count, as catalog.views.search does - over a fixed list of Japanese queries. The same
queries through a naive `name__icontains` filter give the baseline, so the ratio shows
what the Japanese analysis (readings, synonyms, four index columns, ranking) costs.
Figures are printed, never asserted: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 20.0
PAGE_SIZE = 20  # catalog.views.RESULTS_PER_PAGE

# A fixed list covering every case of issue 2, item 5. Grouped only for the reader.
QUERIES = [
    # hiragana / katakana / kanji
    "ほいく", "ホイク", "保育", "じゅうみんひょう", "ジュウミンヒョウ", "住民票",
    "いんかん", "印鑑登録", "こせき", "戸籍謄本",
    # full / half width, Latin
    "ﾏｲﾅﾝﾊﾞｰ", "マイナンバー", "ＰＣＲ", "pcr", "ＤＸ", "ｺﾝﾋﾞﾆ交付",
    # okurigana variants
    "申込", "申し込み", "申込み", "届出", "届け出", "取消し", "取り消し",
    # long vowel and small kana
    "ボランティア", "ボランテイア", "センター", "センタ", "キャンセル", "キヤンセル",
    # synonyms
    "引越し", "引っ越し", "転居", "転入", "ごみ", "ゴミ", "粗大ごみ", "いぬ", "犬",
    "個人番号", "こども", "子ども", "子供", "児童", "国保", "お悔やみ", "ワクチン",
    # two-character partial words (保育 above is one too)
    "住民", "証明", "介護", "補助", "税", "水道",
    # several words
    "保育 証明", "住民票 写し", "犬 登録", "介護 認定 申請", "ごみ 収集",
    # longer phrases (content words are tried when the phrase itself finds nothing)
    "保育園の申し込み", "犬を飼い始めたとき", "引っ越しの手続き", "マイナンバーカードの更新",
    # no match
    "zzzz存在しない手続き", "ふじさんのぼり", "宇宙旅行許可",
]

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

CHANNELS = ["platform", "external", "counter", "counter"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", help="database to build in (default: a fresh temporary SQLite)")
    parser.add_argument("--procedures", type=int, default=5000, help="procedures to reach (default 5000)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per query (default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per query first (default 3)")
    parser.add_argument("--seed", type=int, default=2024)
    return parser.parse_args(argv)


def setup_django(db_url: str | None) -> None:
    """Point settings at the benchmark's own data directory and database, then migrate."""
    data_dir = tempfile.mkdtemp(prefix="tenohira-bench-")
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["TENOHIRA_DATA_DIR"] = data_dir
    os.environ["DATABASE_URL"] = db_url or f"sqlite:///{data_dir}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenohira.config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT / "src"))

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def build_catalog(target: int, seed: int) -> dict:
    from django.db import connection, transaction

    from tenohira.catalog.models import Department, Procedure, Section
    from tenohira.catalog.search import index_procedure
    from tenohira.catalog.services import import_catalog
    from tenohira.core.reading import reading

    if Procedure.objects.exists():
        raise SystemExit("The database already holds procedures; give the benchmark an empty database.")
    stats = {"demo": 0}
    started = time.perf_counter()
    demo = ROOT / "src" / "tenohira" / "catalog" / "demo" / "sample_city.csv"
    if demo.exists():
        stats["demo"] = import_catalog(demo).created
    stats["demo_seconds"] = time.perf_counter() - started

    rng = random.Random(seed)
    generated_started = time.perf_counter()
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
        wanted = max(0, target - stats["demo"])
        if wanted > len(candidates):
            raise SystemExit(f"the word lists give only {len(candidates)} new procedures; lower --procedures")
        batch = []
        for number, (section, subject, name) in enumerate(candidates[:wanted], start=1):
            channel = rng.choice(CHANNELS)
            procedure = Procedure(
                code=f"GEN-{number:05d}",
                section=section,
                name=name,
                reading="",  # derived by index_procedure, as the importer does for a bare list
                keywords=KEYWORDS.get(subject, "") if rng.random() < 0.6 else "",
                summary=f"{section.name}が受け付ける{subject}に関する手続きです。",
                annual_applications=int(rng.lognormvariate(4, 1.8)),
                channel=channel,
                external_url="https://app.oss.myna.go.jp/" if channel == "external" else "",
                counter_place=f"本庁舎 {section.name}" if channel == "counter" else "",
                counter_hours="平日 8時30分〜17時15分" if channel == "counter" else "",
                processing_days=rng.choice([None, 7, 14, 30]),
            )
            index_procedure(procedure)
            batch.append(procedure)
            if len(batch) == 500:
                Procedure.objects.bulk_create(batch)
                batch = []
        Procedure.objects.bulk_create(batch)
    stats["generated"] = wanted
    stats["generated_seconds"] = time.perf_counter() - generated_started
    with connection.cursor() as cursor:  # planner statistics, as autovacuum would gather
        cursor.execute("ANALYZE")
    stats["total"] = Procedure.objects.count()
    stats["seconds"] = time.perf_counter() - started
    return stats


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: the value below which pct % of the measurements fall."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without float error
    return ordered[int(rank) - 1]


def display_width(text: str) -> int:
    """Terminal columns: wide and full-width characters take two (ﾏｲﾅﾝﾊﾞｰ takes one each)."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def ours(query: str) -> int:
    from tenohira.catalog import selectors

    results, _terms = selectors.search_procedures(query)
    list(results[:PAGE_SIZE])
    return results.count()


def baseline(query: str) -> int:
    from tenohira.catalog.models import Procedure

    results = Procedure.objects.filter(name__icontains=query)
    list(results[:PAGE_SIZE])
    return results.count()


def measure(function, queries: list[str], repeat: int, warmup: int) -> dict[str, tuple[int, list[float]]]:
    timings = {}
    for query in queries:
        for _ in range(warmup):
            function(query)
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            hits = function(query)
            samples.append((time.perf_counter() - started) * 1000)
        timings[query] = (hits, samples)
    return timings


def profile(queries: list[str]) -> dict[str, float]:
    """Mean milliseconds per query spent in each part of the search path, one run each.
    The analysis is timed with the reading caches cold (a query never seen) and warm."""
    from tenohira.catalog import search, selectors
    from tenohira.core.reading import content_words, reading

    parts = dict.fromkeys(
        ["analysis, cold caches", "analysis, warm caches", "synonym index rebuild (every 30 s)",
         "freshness check (1 small query)", "match + rank in memory", "load first page (SQL)"], 0.0
    )
    forms = 0
    for query in queries:
        reading.cache_clear()
        content_words.cache_clear()
        t0 = time.perf_counter()
        terms = search.analyse(query)
        t1 = time.perf_counter()
        search.analyse(query)
        t2 = time.perf_counter()
        search.forget_synonyms()
        search.synonym_index()
        t3 = time.perf_counter()
        search.memory_index()
        t4 = time.perf_counter()
        pks = search.rank(terms, query)
        t5 = time.perf_counter()
        list(search.RankedProcedures(pks, selectors.published_procedures())[:PAGE_SIZE])
        t6 = time.perf_counter()
        spans = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)
        for name, seconds in zip(parts, spans, strict=True):
            parts[name] += seconds * 1000 / len(queries)
        forms += sum(len(term.all_forms) for term in terms)
    search._index = None
    started = time.perf_counter()
    search.memory_index()
    parts["index rebuild after a catalog change (once)"] = (time.perf_counter() - started) * 1000
    parts["mean forms per query (str.find passes)"] = forms / len(queries)
    return parts


def main(argv=None) -> None:
    args = parse_args(argv)
    setup_django(args.db_url)
    from django.db import connection

    stats = build_catalog(args.procedures, args.seed)
    print(f"database: {connection.vendor} {connection.Database.__name__} "
          f"({'temporary file' if not args.db_url else args.db_url.rsplit('@', 1)[-1]}); "
          f"Python {platform.python_version()} on {platform.machine()}")
    print(f"built {stats['total']} procedures in {stats['seconds']:.1f} s "
          f"(demo catalog: {stats['demo']} in {stats['demo_seconds']:.1f} s; "
          f"generated: {stats['generated']} with derived readings in {stats['generated_seconds']:.1f} s)")
    print(f"{len(QUERIES)} queries x {args.repeat} runs after {args.warmup} warm-up runs; "
          f"each run = search_procedures(q) + first {PAGE_SIZE} rows + count\n")

    ours_timings = measure(ours, QUERIES, args.repeat, args.warmup)
    base_timings = measure(baseline, QUERIES, args.repeat, args.warmup)

    width = max(display_width(q) for q in QUERIES) + 2
    print(f"{'query':<{width}} {'hits':>5} {'p50 ms':>7} {'p95 ms':>7} | {'naive hits':>10} {'p50 ms':>7} {'p95 ms':>7}")
    for query in QUERIES:
        hits, samples = ours_timings[query]
        base_hits, base_samples = base_timings[query]
        pad = width - display_width(query) + len(query)
        print(f"{query:<{pad}} {hits:>5} {statistics.median(samples):>7.2f} {percentile(samples, 95):>7.2f} | "
              f"{base_hits:>10} {statistics.median(base_samples):>7.2f} {percentile(base_samples, 95):>7.2f}")

    everything = [s for _, samples in ours_timings.values() for s in samples]
    base_everything = [s for _, samples in base_timings.values() for s in samples]
    p95 = percentile(everything, 95)
    base_p95 = percentile(base_everything, 95)
    print()
    print("where the time goes (mean ms per query, one run each):")
    for name, ms in profile(QUERIES).items():
        print(f"  {name:<36} {ms:7.2f}")
    print()
    print(f"overall ({len(everything)} measurements): p50 {statistics.median(everything):.2f} ms, p95 {p95:.2f} ms, "
          f"max {max(everything):.2f} ms")
    print(f"naive name__icontains baseline: p50 {statistics.median(base_everything):.2f} ms, p95 {base_p95:.2f} ms")
    print(f"Japanese search p95 / naive p95: {p95 / base_p95:.1f}x")
    print(f"p95 < {TARGET_P95_MS:.0f} ms: {'PASS' if p95 < TARGET_P95_MS else 'FAIL'}")


if __name__ == "__main__":
    main()
