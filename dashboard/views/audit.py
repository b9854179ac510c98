"""The audit log: who changed what, when and from where, newest first, filtered; read-only."""

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from jobs.services import auditlog, listing

from .. import access
from .common import htmx_target

#: Seeing the log (``AuditEntry``'s view permission): it names every operator and what they did.
PAGE_SIZE = 50
FILTERS = ("action", "actor", "tenant", "since", "until")


def _query(data: QueryDict, **extra: object) -> str:
    query = QueryDict(mutable=True)
    for name in FILTERS:
        if data.get(name):
            query[name] = str(data.get(name))
    for name, value in extra.items():
        query[name] = str(value)
    return query.urlencode()


@access.page(access.VIEW_AUDIT)
def audit_log(request: HttpRequest) -> HttpResponse:
    filters = auditlog.entries(request.GET)
    # An invalid filter is shown on its field and leaves the list unfiltered by it, never a 500.
    valid = filters.is_valid()
    qs = filters.qs if valid else auditlog.entries({}).qs
    rows, next_id = auditlog.page(qs, size=PAGE_SIZE, after=listing.int_or_none(request.GET.get("after")))
    base = reverse("dashboard:audit")
    form = filters.form
    for name in ("since", "until"):
        form.fields[name].widget.attrs.update({"placeholder": "2026-01-31T09:00"})
    context = {
        "section": "audit", "title": "Audit log", "form": form, "rows": rows,
        "filtered": any(request.GET.get(name) for name in FILTERS),
        "next_url": f"{base}?{_query(request.GET, after=next_id)}" if next_id is not None else None,
        "first_url": f"{base}?{_query(request.GET)}" if request.GET.get("after") else None,
    }
    if htmx_target(request) == "audit-results":
        return render(request, "dashboard/audit/_results.html", context)
    return render(request, "dashboard/audit/list.html", context, status=200 if valid else 400)
