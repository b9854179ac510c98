"""Tenants: created, renamed, deactivated (confirmed); weight, caps, rate limits, queues and granted types;
their live numbers; their API keys (the secret shown once, revoked). Every change goes through
``tenants.changes``, which records it in the audit log."""

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import mark_safe

from jobs.lifecycle import WAITING
from jobs.models import Task
from jobs.services import grants, listing, pauses
from tenants import changes, keys
from tenants.conf import conf
from tenants.models import ApiKey, Tenant
from tenants.queues import describe

from .. import access, live
from ..forms import ApiKeyForm, TenantLimitsForm, TypeGrantForm
from ..tenantforms import TenantCreateForm, TenantRenameForm
from .common import fragment, htmx_target

#: Creating a tenant is the model's add permission (``access`` lists the others).
ADD_TENANT = "tenants.add_tenant"


@access.page_or_action(access.VIEW_TENANTS, ADD_TENANT)
def tenant_list(request: HttpRequest) -> HttpResponse:
    """GET lists the tenants; POST (``tenants.add_tenant``) creates one."""
    form = TenantCreateForm(request.POST) if request.method == "POST" else TenantCreateForm()
    if request.method == "POST" and form.is_valid():
        tenant = changes.create(form.save(commit=False))
        messages.success(request, f"Created tenant {tenant.slug} (weight {tenant.weight}); it has no API key yet.")
        return redirect("dashboard:tenant", slug=tenant.slug)
    tenants = Tenant.objects.annotate(
        active_keys=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True)),
    ).order_by("slug")
    c = conf()
    paused = {p.value: p for p in pauses.list_pauses(count=False) if p.kind == "tenant"}
    rows = [(t, paused.get(t.slug)) for t in tenants]
    return render(request, "dashboard/tenants/list.html", {
        "section": "tenants", "title": "Tenants", "rows": rows,
        "can_pause": request.user.has_perm(access.CHANGE_TENANT),
        "can_create": request.user.has_perm(ADD_TENANT), "create_form": form,
        "default_limit": c.API_RATE_LIMIT, "default_window": c.API_RATE_WINDOW_SECONDS,
    }, status=400 if request.method == "POST" else 200)


def _grant_choices(granted: list[str]) -> list[str]:
    return [name for name in grants.listed_types() if name not in granted]


def _tenant_context(request: HttpRequest, tenant: Tenant, **extra: Any) -> dict[str, Any]:
    c = conf()
    can_view_keys = access.can_any(request.user, access.VIEW_KEYS)
    granted = grants.granted(tenant)
    return {
        "section": "tenants", "title": f"Tenant {tenant.slug}", "tenant": tenant,
        "queues": describe(tenant.allowed_queues, tenant.slug), "granted": granted,
        "limits_form": extra.pop("limits_form", None) or TenantLimitsForm(instance=tenant),
        "grant_form": extra.pop("grant_form", None) or TypeGrantForm(choices=_grant_choices(granted)),
        "key_form": extra.pop("key_form", None) or ApiKeyForm(),
        "rename_form": extra.pop("rename_form", None) or TenantRenameForm(initial={"name": tenant.name}),
        "numbers_html": mark_safe(_numbers(tenant)),  # noqa: S308 — our own template, autoescaped
        "keys": list(tenant.api_keys.order_by("-created_at")) if can_view_keys else None,
        "default_limit": c.API_RATE_LIMIT, "default_window": c.API_RATE_WINDOW_SECONDS,
        **extra,
    }


def _cap(value: int | None, unit: str = "") -> str:
    return "no cap" if value is None else f"{value}{unit}"


def _save_limits(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    form = TenantLimitsForm(request.POST, instance=tenant)
    if not form.is_valid():
        tenant.refresh_from_db()
        return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant, limits_form=form),
                      status=400)
    # The form has set its values on the tenant; the change saves (and records) those that differ.
    changes.update(tenant, {name: getattr(tenant, name) for name in form.Meta.fields})
    limit = "default" if tenant.rate_limit is None else tenant.rate_limit
    window = "default" if tenant.rate_window_seconds is None else tenant.rate_window_seconds
    messages.success(request, f"Saved {tenant.slug}: weight {tenant.weight}, max running {_cap(tenant.max_running)}, "
                              f"rate limit {limit} per {window} s, max waiting {_cap(tenant.max_pending)}, "
                              f"max wait {_cap(tenant.max_pending_age_seconds, ' s')}, "
                              f"queues {describe(tenant.allowed_queues, tenant.slug)}.")
    return redirect("dashboard:tenant", slug=tenant.slug)


def _change_grant(request: HttpRequest, tenant: Tenant, action: str) -> HttpResponse:
    granted = grants.granted(tenant)
    if action == "revoke_grant":
        name = request.POST.get("type", "")
        if name in granted:
            grants.revoke(tenant, name)
            messages.success(request, f"{tenant.slug} may no longer submit {name}.")
        else:
            messages.info(request, f"{tenant.slug} had no grant of {name!r}.")
        return redirect(reverse("dashboard:tenant", args=[tenant.slug]) + "#types")
    form = TypeGrantForm(request.POST, choices=_grant_choices(granted))
    if not form.is_valid():
        return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant, grant_form=form),
                      status=400)
    grants.grant(tenant, form.cleaned_data["type"])
    messages.success(request, f"{tenant.slug} may now submit {form.cleaned_data['type']}.")
    return redirect(reverse("dashboard:tenant", args=[tenant.slug]) + "#types")


@access.page_or_action(access.VIEW_TENANTS, access.CHANGE_TENANT)
def tenant_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """GET shows the tenant; POST (``tenants.change_tenant``) saves its limits, or grants or revokes a listed type."""
    tenant = get_object_or_404(Tenant, slug=slug)
    if request.method == "POST":
        action = request.POST.get("form", "limits")
        if action in {"grant", "revoke_grant"}:
            return _change_grant(request, tenant, action)
        return _save_limits(request, tenant)
    return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant))


@access.action(access.ADD_KEY)
def key_create(request: HttpRequest, slug: str) -> HttpResponse:
    """Issue a key and show its secret in this response only (never stored, never cached)."""
    tenant = get_object_or_404(Tenant, slug=slug)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant, key_form=form),
                      status=400)
    if form.cleaned_data["is_operator"] and not request.user.has_perm(access.ISSUE_OPERATOR_KEY):
        # The box is not shown without the permission: this is a forged form, refused whole.
        raise PermissionDenied
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


def _numbers(tenant: Tenant) -> str:
    """The tenant's counters, each a link to its tasks (the overview's, scoped)."""
    return live.one_line(render_to_string("dashboard/live/_counters.html", live.counters_context(
        [tenant.pk], links={"tenant": tenant.slug})))


@access.page(*access.VIEW_TENANTS)
def tenant_numbers(request: HttpRequest, slug: str) -> HttpResponse:
    """The tenant page's live numbers (polled by the page)."""
    return fragment(_numbers(get_object_or_404(Tenant, slug=slug)))


@access.action(access.CHANGE_TENANT)
def tenant_rename(request: HttpRequest, slug: str) -> HttpResponse:
    tenant = get_object_or_404(Tenant, slug=slug)
    form = TenantRenameForm(request.POST)
    if not form.is_valid():
        return render(request, "dashboard/tenants/detail.html", _tenant_context(request, tenant, rename_form=form),
                      status=400)
    old = tenant.name
    if changes.update(tenant, {"name": form.cleaned_data["name"]}):
        messages.success(request, f"Renamed {tenant.slug}: “{old}” → “{tenant.name}”.")
    else:
        messages.info(request, f"{tenant.slug} is already named “{tenant.name}”.")
    return redirect("dashboard:tenant", slug=tenant.slug)


@access.action(access.CHANGE_TENANT)
def tenant_active(request: HttpRequest, slug: str) -> HttpResponse:
    """Step 1 says what (de)activating changes, with counts; step 2 (``confirm=yes``) does it."""
    tenant = get_object_or_404(Tenant, slug=slug)
    wanted = request.POST.get("active") == "yes"
    if wanted == tenant.active:
        messages.info(request, f"{tenant.slug} is already {'active' if wanted else 'inactive'}.")
        return redirect("dashboard:tenant", slug=tenant.slug)
    if request.POST.get("confirm") != "yes":
        waiting, more = listing.bounded_count(Task.objects.filter(tenant=tenant, status__in=WAITING),
                                              listing.ACTION_COUNT_CAP)
        return render(request, "dashboard/tenants/active_confirm.html", {
            "section": "tenants", "title": f"{'Reactivate' if wanted else 'Deactivate'} {tenant.slug}?",
            "tenant": tenant, "wanted": wanted,
            "waiting": waiting, "more": more,
            "keys": tenant.api_keys.filter(revoked_at__isnull=True).count(),
        })
    changes.update(tenant, {"active": wanted})
    if wanted:
        messages.success(request, f"Reactivated {tenant.slug}: its keys work and its waiting tasks start again.")
    else:
        messages.success(request, f"Deactivated {tenant.slug}: its keys are refused within "
                                  f"{conf().API_KEY_CACHE_SECONDS:g} s and its waiting tasks stay until reactivated.")
    return redirect("dashboard:tenant", slug=tenant.slug)
