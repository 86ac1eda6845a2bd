"""CSV and XLSX exports of an admin list (issue 15: accounts and units): the rows the list's filters select
in the viewer's scope, names rather than ids. CSV streams; XLSX is built with tablib (import-export's)."""

from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _

from . import tree
from .admin import escape_cell, invalid_filter_response, stream_csv

FORMATS = ("csv", "xlsx")


def export_list(request, model_admin, *, filename: str, header: list[str], rows):
    """``rows(queryset)`` → iterable of cell lists, for the changelist's filtered (and scoped) queryset."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        return HttpResponseBadRequest(_("“format” is csv or xlsx."), content_type="text/plain; charset=utf-8")
    params = request.GET.copy()
    params.pop("format", None)
    request.GET = params
    try:
        queryset = model_admin.get_changelist_instance(request).get_queryset(request)
    except IncorrectLookupParameters as exc:
        return invalid_filter_response(exc)
    if fmt == "csv":
        return stream_csv(f"{filename}.csv", header, rows(queryset))
    import tablib

    data = tablib.Dataset(headers=header)
    for row in rows(queryset):
        data.append([escape_cell(v) if isinstance(v, str) else v for v in row])
    response = HttpResponse(data.export("xlsx"),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response


def path_names(account_paths) -> dict[int, str]:
    """{id: name} of every account on the given materialised paths, in one query."""
    Account = tree.account_model()
    ids = {int(p) for path in account_paths for p in path.strip("/").split("/") if p}
    return dict(Account.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


def path_start(viewer) -> int:
    """How many leading accounts of a path the viewer does not name: the platform operator names the top
    (the service); everyone else starts at its own account's depth, but never names the top: a
    distributor starts at its own account, a top user (whose account is the top, depth 0) below it."""
    from .scoping import is_platform

    if is_platform(viewer):
        return 0
    account = getattr(viewer, "account", None)
    if account is None:
        return 0
    return max(account.depth, 1)


def path_label(viewer, account, names: dict[int, str], *, start: int | None = None) -> str:
    """The account's real path as the viewer may see it (North › North-East): its ancestors from the
    viewer's own level down, never above the viewer's scope. ``start``: ``path_start(viewer)``, when the caller
    has it already."""
    ids = [int(p) for p in account.path.strip("/").split("/") if p]
    shown = ids[min(path_start(viewer) if start is None else start, len(ids) - 1):]
    return " › ".join(names.get(i, account.name if i == account.pk else "?") for i in shown)
