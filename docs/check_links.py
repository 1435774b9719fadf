"""
Check every internal link and image of the built documentation site; exit 1 if any is broken.

    rm -rf docs/_build && sphinx-build -W --keep-going -b html docs docs/_build/html
    python docs/check_links.py docs/_build/html

Build into an empty folder: ``sphinx.ext.viewcode`` does not rewrite a source page that is newer
than its module, so an earlier build's page can keep links to objects no longer documented.

Sphinx itself fails (``-W``) on a cross-reference or Markdown link it cannot resolve; this checks
what reaches the HTML: every ``href`` and ``src`` that is not an external URL must name a file of
the site, and its ``#fragment`` an ``id`` in that file. External links are not followed (the
pages name papers and projects; the site must not depend on the network to be checked).
"""

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXTERNAL_SCHEMES = ("http", "https", "mailto", "data", "javascript", "tel")
LINKING = {("a", "href"), ("link", "href"), ("img", "src"), ("script", "src")}  # (tag, attribute)


class Page(HTMLParser):
    """The links and images of one HTML file, and the ids it defines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (attribute, value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and (name == "id" or tag == "a"):
                self.ids.add(value)
            elif (tag, name) in LINKING:
                self.links.append((f"<{tag} {name}>", value))


def parse(path: Path, cache: dict[Path, Page]) -> Page:
    if path not in cache:
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        cache[path] = page
    return cache[path]


def broken_links(site: Path) -> list[str]:
    """Every internal link or image of ``site`` that names a missing file or a missing anchor."""
    cache: dict[Path, Page] = {}
    problems = []
    for html in sorted(site.rglob("*.html")):
        for attribute, value in parse(html, cache).links:
            parts = urlsplit(value)
            if parts.scheme in EXTERNAL_SCHEMES or parts.netloc:
                continue
            target = (html.parent / unquote(parts.path)).resolve() if parts.path else html.resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{html.relative_to(site)}: {attribute} {value!r}"
            if site.resolve() not in target.parents and target != site.resolve():
                problems.append(f"{where} leaves the site")
            elif not target.is_file():
                problems.append(f"{where}: no file {target.relative_to(site.resolve())}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in parse(target, cache).ids:
                problems.append(f"{where}: no id {parts.fragment!r} in {target.relative_to(site.resolve())}")
    return problems


def main() -> int:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/_build/html")
    if not (site / "index.html").is_file():
        print(f"{site} holds no built site (index.html); build it first with sphinx-build", file=sys.stderr)
        return 2
    problems = broken_links(site)
    for problem in problems:
        print(problem)
    n_pages = sum(1 for _ in site.rglob("*.html"))
    print(f"{len(problems)} broken internal links or images in {n_pages} pages of {site}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
