"""Tenants: weight, concurrency cap and rate limits; their API keys (the secret shown once, revoked)."""

from typing import Any

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from jobs.services import pauses
from tenants import keys
from tenants.conf import conf
from tenants.models import ApiKey, Tenant

from .. import access
from ..forms import ApiKeyForm, TenantLimitsForm
from .common import htmx_target


@access.page(*access.VIEW_TENANTS)
def tenant_list(request: HttpRequest) -> HttpResponse:
    tenants = Tenant.objects.annotate(
        active_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)),
    ).order_by("slug")
    c = conf()
    paused = {p.value: p for p in pauses.list_pauses(count=False) if p.kind == "tenant"}
    rows = [(t, paused.get(t.slug)) for t in tenants]
    return render(request, "dashboard/tenants/list.html", {
        "section": "tenants", "title": "Tenants", "rows": rows,
        "can_pause": request.user.has_perm(access.CHANGE_TENANT),
        "default_limit": c.API_RATE_LIMIT, "default_window": c.API_RATE_WINDOW_SECONDS,
    })


def _tenant_context(request: HttpRequest, tenant: Tenant, **extra: Any) -> dict[str, Any]:
    c = conf()
    can_view_keys = access.can_any(request.user, access.VIEW_KEYS)
    return {
        "section": "tenants", "title": f"Tenant {tenant.slug}", "tenant": tenant,
        "limits_form": extra.pop("limits_form", None) or TenantLimitsForm(instance=tenant),
        "key_form": extra.pop("key_form", None) or ApiKeyForm(),
        "keys": list(tenant.api_keys.order_by("-created_at")) if can_view_keys else None,
        "default_limit": c.API_RATE_LIMIT, "default_window": c.API_RATE_WINDOW_SECONDS,
        **extra,
    }


@access.page_or_action(access.VIEW_TENANTS, access.CHANGE_TENANT)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """GET shows the tenant; POST saves its weight and rate limit (``tenants.change_tenant``)."""
    tenant = get_object_or_404(Tenant, slug=slug)
    if request.method == "POST":
        form = TenantLimitsForm(request.POST, instance=tenant)
        if form.is_valid():
            form.save()
            keys.forget()  # cached key verifications carry the tenant's limits
            limit = "default" if tenant.rate_limit is None else tenant.rate_limit
            window = "default" if tenant.rate_window_seconds is None else tenant.rate_window_seconds
            cap = "no cap" if tenant.max_running is None else tenant.max_running
            messages.success(request, f"Saved {tenant.slug}: weight {tenant.weight}, max running {cap}, "
                                      f"rate limit {limit} per {window} s.")
            return redirect("dashboard:tenant", slug=tenant.slug)
        tenant.refresh_from_db()
        return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant, limits_form=form),
                      status=400)
    return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant))


@access.action(access.ADD_KEY)
def key_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Issue a key and show its secret in this response only (never stored, never cached)."""
    tenant = get_object_or_404(Tenant, slug=slug)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant, key_form=form),
                      status=400)
    key, raw = keys.issue(tenant, name=form.cleaned_data["name"], operator=form.cleaned_data["is_operator"])
    context = _tenant_context(request, tenant, new_key=key, new_secret=raw)
    template = "dashboard/tenants/_keys.html" if htmx_target(request) == "keys-panel" else \
        "dashboard/tenants/detail.html"
    response = render(request, template, context)
    add_never_cache_headers(response)
    return response


@access.action(access.CHANGE_KEY)
def key_revoke(request: HttpRequest, slug: str, key_id: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.select_related("tenant"), pk=key_id, tenant__slug=slug)
    if key.revoked_at is None:
        keys.revoke(key)
        messages.success(request, f"Revoked key {key.prefix}; it stops working within "
                                  f"{conf().API_KEY_CACHE_SECONDS:g} s.")
    else:
        messages.info(request, f"Key {key.prefix} was already revoked.")
    if htmx_target(request) == "keys-panel":
        key.tenant.refresh_from_db()
        return render(request, "dashboard/tenants/_keys.html", {**_tenant_context(request, key.tenant), "oob": True})
    return redirect(reverse("dashboard:tenant", args=[slug]) + "#keys")
