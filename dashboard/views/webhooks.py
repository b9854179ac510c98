"""Webhook endpoints per tenant: list, create (the signing secret shown once), read with the latest
deliveries (each a task: its page has the attempts and errors), delete after a confirmation."""

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from jobs.models.webhooks import EVENTS
from jobs.services import webhooks
from tenants.models import Tenant

from .. import access

VIEW = ("jobs.view_webhook", "jobs.add_webhook", "jobs.delete_webhook")
ADD = "jobs.add_webhook"
DELETE = "jobs.delete_webhook"


class WebhookForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.filter(active=True).order_by("slug"), to_field_name="slug",
                                    empty_label=None)
    url = forms.CharField(label="URL", max_length=2000, widget=forms.URLInput(attrs={"placeholder": "https://…"}),
                          help_text="http or https. In production, private, loopback and link-local addresses are "
                                    "refused.")
    events = forms.MultipleChoiceField(choices=[(e, e) for e in EVENTS], widget=forms.CheckboxSelectMultiple,
                                       initial=["task.completed", "task.failed"])


def _page(request: HttpRequest, form: WebhookForm, *, status: int = 200, **extra: Any) -> HttpResponse:
    shown = request.GET.get("tenant") or ""
    hooks = webhooks.of_tenants(None)
    return render(request, "dashboard/webhooks/list.html", {
        "section": "webhooks", "title": "Webhooks", "form": form, "tenant_filter": shown,
        "hooks": [h for h in hooks if not shown or h.tenant.slug == shown],
        "tenants": sorted({h.tenant.slug for h in hooks}), "can_add": request.user.has_perm(ADD), **extra,
    }, status=status)


@access.page_or_action(VIEW, ADD)
def webhook_list(request: HttpRequest) -> HttpResponse:
    """GET lists every tenant's endpoints (``?tenant=`` one's); POST creates one and shows its secret once."""
    if request.method != "POST":
        return _page(request, WebhookForm(initial={"tenant": request.GET.get("tenant")}))
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        hook, secret = webhooks.create(form.cleaned_data["tenant"], form.cleaned_data["url"],
                                       form.cleaned_data["events"])
    except webhooks.Invalid as exc:
        for error in exc.errors:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        return _page(request, form, status=400)
    response = _page(request, WebhookForm(initial={"tenant": hook.tenant.slug}), new_hook=hook, new_secret=secret)
    add_never_cache_headers(response)  # the secret must not outlive this answer in any cache
    return response


@access.page(*VIEW)
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    hook = webhooks.find(pk, None)
    if hook is None:
        raise Http404(f"No webhook {pk}.")
    return render(request, "dashboard/webhooks/detail.html", {
        "section": "webhooks", "title": f"Webhook {hook.pk}", "hook": hook, "deliveries": webhooks.deliveries(hook),
        "can_delete": request.user.has_perm(DELETE),
    })


@access.page_or_action(VIEW, DELETE)
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes (its queued deliveries then end without sending)."""
    hook = webhooks.find(pk, None)
    if hook is None:
        messages.info(request, f"Webhook {pk} was already deleted.")
        return redirect("dashboard:webhooks")
    if request.method != "POST":
        return render(request, "dashboard/webhooks/confirm_delete.html", {
            "section": "webhooks", "title": f"Delete webhook {hook.pk}?", "hook": hook})
    webhooks.delete(hook)
    messages.success(request, f"Deleted webhook {pk} of {hook.tenant.slug} ({hook.url}).")
    return redirect(f"{reverse('dashboard:webhooks')}?tenant={hook.tenant.slug}")
