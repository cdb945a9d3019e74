"""Admin for API clients: the scopes each OAuth application may be granted, idempotency records."""

from django import forms
from django.conf import settings
from django.contrib import admin
from oauth2_provider import admin as oauth2_admin  # DOT's admins, registered before we replace one

from checkout_project.api.models import ClientProfile, IdempotencyRecord


class ClientProfileForm(forms.ModelForm):
    class Meta:
        model = ClientProfile
        fields = ("application", "allowed_scopes")

    def clean_allowed_scopes(self):
        scopes = self.cleaned_data["allowed_scopes"].split()
        unknown = [scope for scope in scopes if scope not in settings.OAUTH_SCOPES]
        if unknown:
            raise forms.ValidationError(
                f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(settings.OAUTH_SCOPES)}."
            )
        return " ".join(dict.fromkeys(scopes))


@admin.register(ClientProfile)
class ClientProfileAdmin(admin.ModelAdmin):
    form = ClientProfileForm
    list_display = ("application", "allowed_scopes")
    list_select_related = ("application",)
    search_fields = ("application__name", "application__client_id", "allowed_scopes")
    raw_id_fields = ("application",)


class ClientProfileInline(admin.StackedInline):
    model = ClientProfile
    form = ClientProfileForm
    fields = ("allowed_scopes",)
    can_delete = False


class ApplicationWithProfileAdmin(oauth2_admin.application_admin_class):
    inlines = [*oauth2_admin.application_admin_class.inlines, ClientProfileInline]
    # DOT lists the (nullable) user: without this, one query per row.
    list_select_related = ("user",)


admin.site.unregister(oauth2_admin.application_model)
admin.site.register(oauth2_admin.application_model, ApplicationWithProfileAdmin)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "client_key", "status_code", "created")
    search_fields = ("key", "client_key")
    date_hierarchy = "created"
    readonly_fields = ("client_key", "key", "request_hash", "status_code", "body", "headers", "cookies", "created")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
