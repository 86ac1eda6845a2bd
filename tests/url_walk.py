"""Every named URL of the site, from the URL resolver itself (used by the crawl and the permission table).

Walking ``django.urls.get_resolver()`` rather than keeping a hand list means a new page is crawled, and
must have its row in the permission table, the day it is added.
"""

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# Admin pages that read filters from the query string like a list does.
FILTERED_PAGES = {"admin:accounts_ledger_export", "codes-log", "discount_module", "codes-generated-csv",
                  "admin:plans_planservice_export", "dashboard-forecast", "dashboard-forecast-csv", "dashboard",
                  "codes-forecast"}


@dataclass(frozen=True)
class Route:
    name: str  # the view name reverse() takes ("admin:units_unit_change", "unit-detail")
    args: tuple[str, ...]  # its keyword arguments
    api: bool  # under /api/ (else an admin page)

    @property
    def is_list(self) -> bool:
        return (self.name.endswith("_changelist") or (self.api and self.name.endswith("-list"))
                or self.name in FILTERED_PAGES)


def _walk(resolver, namespace="", prefix=""):
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            for name, args, path in _walk(pattern, inner, prefix + str(pattern.pattern)):
                yield name, (*pattern.pattern.regex.groupindex, *args), path
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield f"{namespace}{pattern.name}", tuple(pattern.pattern.regex.groupindex), prefix + str(pattern.pattern)


def routes() -> list[Route]:
    """Every named URL (the first pattern of each name, as ``reverse`` uses)."""
    seen = {}
    for name, args, path in _walk(get_resolver()):
        seen.setdefault(name, Route(name, args, api=path.lstrip("^").startswith("api/")))
    return sorted(seen.values(), key=lambda r: r.name)
