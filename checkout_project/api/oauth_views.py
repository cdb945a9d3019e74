"""OAuth endpoints that differ from django-oauth-toolkit's defaults."""

from oauth2_provider import views as oauth2_views


class IntrospectTokenView(oauth2_views.IntrospectTokenView):
    """RFC 7662 introspection for resource servers only.

    DOT also lets any confidential client introspect any token with its own credentials, which
    would tell one storefront the client ids and usernames behind another's tokens. Here only a
    bearer token carrying the `introspection` scope (granted through a ClientProfile) may ask.
    """

    def authenticate_client(self, request):
        return False
