"""The platform's own room: what belongs to the site as a whole rather than to one domain.

The commands that start the product (`tenohira demo`, `tenohira serve`), the site-wide
template context, the pages every public site carries (お問い合わせ, プライバシーポリシー,
アクセシビリティ方針, 利用規約) and the error pages. It sits at the top of the dependency
graph: it may import every domain app, and no domain app imports it.

Imported as `tenohira.platform`; a bare `import platform` anywhere still finds the
standard library's module because every import in the project is absolute.
"""
