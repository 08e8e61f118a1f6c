"""The demo city (サンプル市): which catalog, forms and staff accounts `tenohira demo` loads.

Kept apart from the command so that tests and the demo's sign-in page can name the same
files and accounts without importing a management command.
"""

from pathlib import Path

_SRC = Path(__file__).resolve().parents[1]

# The catalog and the forms are data of their own apps; the demo only chooses them.
DEMO_CATALOG = _SRC / "catalog" / "demo" / "sample_city.csv"
DEMO_FIRST_STEPS = _SRC / "catalog" / "demo" / "first_steps.csv"
DEMO_FORMS = _SRC / "forms" / "demo"

# Demo-only accounts; the password is printed on purpose and works only on the demo's
# own database (settings keep the demo in a separate data directory). The one-time codes
# of their authenticator devices are shown on the demo's login page (DEMO only).
DEMO_PASSWORD = "tenohira-demo-2026"  # noqa: S105 (printed on purpose; demo database only)
DEMO_ACCOUNTS = [
    # username, full name, [(role, section or None)], what to try
    ("dx-admin", "DX 管理者", [("dx_admin", None)], "管理画面（/admin/）で手続カタログ・フォーム・職員の役割"),
    ("kodomo-tanto", "こども 担当", [("handler", "こども政策課")], "放課後児童クラブの申請の審査・差戻し・窓口受付"),
    ("kodomo-kessai", "こども 決裁者", [("approver", "こども政策課")], "放課後児童クラブの申請の承認・却下"),
    ("shimin-tanto", "市民 担当", [("handler", "市民課"), ("approver", "市民課"), ("handler", "３Ｒ推進課"),
                                  ("approver", "３Ｒ推進課"), ("handler", "生活衛生課"), ("approver", "生活衛生課"),
                                  ("handler", "広聴広報課"), ("approver", "広聴広報課")],
     "住民票・粗大ごみ・犬の登録・公文書開示の申請"),
    ("kansa", "監査 担当", [("auditor", None)], "監査ログ（/staff/audit/）"),
]
