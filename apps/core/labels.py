"""An account's label as a viewer sees it, in every list and picker (issue 15: "North › North-East"): its
real path from the viewer's own level (``exports.path_label``), never a bare name that two branches may
share. A page's labels come from one ``PathLabels``, which reads the names on all the page's paths in one
query whatever the number of rows (and none again for an account met before).
"""

from functools import cached_property
from types import SimpleNamespace

from django.utils.safestring import mark_safe

from .exports import path_label, path_names, path_start
from .html import escaped


def _ids(path: str) -> list[int]:
    return [int(p) for p in path.strip("/").split("/") if p]


class PathLabels:
    """Labels of accounts for one viewer; ``add`` reads the names of the given accounts' paths at once. A label
    made once is kept for the page (a list's rows name the same few accounts again and again)."""

    def __init__(self, viewer, accounts=()):
        self.viewer = viewer
        self.names: dict[int, str] = {}
        self._html: dict[tuple, str] = {}
        self.add(accounts)

    @cached_property
    def start(self) -> int:
        return path_start(self.viewer)

    def add(self, accounts) -> "PathLabels":
        # The account's own name is on the row: only its ancestors' are read.
        missing = [a.path for a in accounts if a is not None and any(i not in self.names for i in _ids(a.path)[:-1])]
        if missing:
            self.names.update(path_names(missing))
        return self

    def __call__(self, account) -> str:
        if account is None:
            return ""
        self.add([account])  # nothing to read for an account of a primed page
        return path_label(self.viewer, account, self.names, start=self.start)

    def html(self, account) -> str:
        """``label_html`` of the account's label, made once a page per account."""
        key = (account.pk, account.name, account.path)
        made = self._html.get(key)
        if made is None:
            made = self._html[key] = label_html(self(account))
        return made



def kept_account(path: str, name: str):
    """An account as an event kept it (its path and its name then), to label with ``PathLabels``: today's
    names on the way, the event's own name for the account itself; None when the event kept no path."""
    ids = _ids(path)
    return SimpleNamespace(path=path, pk=ids[-1], name=name) if ids else None


def unit_label(labels: PathLabels, unit) -> str:
    """A unit in a picker: its name, IMEI and account path tell namesakes apart."""
    return f"{unit.name} ({unit.unique_id}, {labels(unit.account)})"


def labels_for(request) -> PathLabels:
    """The request's ``PathLabels`` (one for every list, filter and picker of the page)."""
    labels = getattr(request, "_path_labels", None)
    if labels is None:
        labels = request._path_labels = PathLabels(request.user)
    return labels


def labels_for_row(obj, account) -> str:
    """The plain label of an account on a list's row (``PathLabelsMixin`` primed it), its name otherwise."""
    labels = getattr(obj, "_path_labels", None)
    return labels(account) if labels is not None else account.name


class PathLabelsMixin:
    """For a ModelAdmin whose list shows accounts. ``label_accounts(obj)`` names a row's accounts; the list's
    page reads the names on all their paths in one query, and ``path_of(obj, account)`` labels them in a
    column. ``picker_rows_accounts(obj)`` does the same for the rows of its autocomplete answers."""

    def label_accounts(self, obj) -> list:
        return []

    def get_changelist_instance(self, request):
        cl = super().get_changelist_instance(request)
        labels = labels_for(request)
        rows = list(cl.result_list)  # the page's rows, read once (the template reuses them)
        labels.add([account for obj in rows for account in self.label_accounts(obj)])
        for obj in rows:
            obj._path_labels = labels
        return cl

    @staticmethod
    def path_of(obj, account):
        """The account's label for a list cell (HTML: the path wraps only between names)."""
        labels = getattr(obj, "_path_labels", None)
        if account is None:
            return ""
        return labels.html(account) if labels is not None else label_html(account.name)

    def prime_picker_labels(self, request, objects) -> None:
        """Called by the autocomplete view with the page of rows it answers, before labelling them."""
        labels_for(request).add([account for obj in objects for account in self.label_accounts(obj)])


def label_kept(request, rows, *, path="account_path", name="account_name", into="account_label") -> list:
    """Set ``into`` on each row (an event that kept an account's path and name) to the account's label for
    the request's viewer, the names of every row's path read at once; the rows, for chaining."""
    labels = labels_for(request)
    kept = [kept_account(getattr(row, path), getattr(row, name)) for row in rows]
    labels.add(kept)
    for row, account in zip(rows, kept):
        setattr(row, into, labels(account) if account is not None else getattr(row, name))
    return rows


def label_html(label: str):
    """A label for a list's cell: each account's name kept on one line, the path wrapping only between them
    (a narrow column reads "North ›" / "North-East ›" / "NE Farms", never "North-" / "East")."""
    return mark_safe(" › ".join(f'<span style="white-space:nowrap">{escaped(part)}</span>' for part in
                                label.split(" › ")))
