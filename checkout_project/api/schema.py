"""OpenAPI: every operation lists the OAuth scope its action requires, the errors and headers the
plumbing adds to every answer, and components named as a client reads them."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema

from checkout_project.api.openapi import (
    BODY_ERROR_STATUSES,
    COMMON_ERROR_STATUSES,
    COMMON_RESPONSE_HEADERS,
    ErrorSerializer,
    common_error_response,
)


class ScopedAutoSchema(AutoSchema):
    def get_auth(self):
        scope = getattr(self.view, "required_scope", None)
        if scope is None:
            return []
        # Alternatives are separate requirements: OpenAPI reads a list of them as "any of".
        return [{"oauth2": [accepted]} for accepted in (scope, *getattr(self.view, "also_accepted_scopes", ()))]

    def get_tags(self):
        return getattr(self.view, "schema_tags", None) or super().get_tags()

    def get_operation(self, *args, **kwargs):
        """The operation, with the responses any API request may get besides its own: 405 and 406
        (DRF's negotiation), 429 (the throttle), 503 (a database outage), and 415 when it reads a
        body. (Added here: an operation's @extend_schema(responses=…) replaces get_response_serializers.)"""
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        statuses = [*COMMON_ERROR_STATUSES]
        if "requestBody" in operation:
            statuses.extend(BODY_ERROR_STATUSES)
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for status in statuses:
            responses.setdefault(str(status), common_error_response(status, error))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def get_override_parameters(self):
        # Retry-After (429, 503), WWW-Authenticate (401) and Allow (405) wherever those are answered.
        return [*super().get_override_parameters(), *COMMON_RESPONSE_HEADERS]

    def get_serializer_name(self, serializer, direction):
        """Names as a client reads them: drf-spectacular adds "Request" to every request component
        (COMPONENT_SPLIT_REQUEST), so a request serializer's own "Request" or "Input" suffix is
        dropped (no `OrderRequestRequest`); a documentation-only response serializer's "Out" suffix
        too (`CustomerDetailsOut` documents `CustomerDetails`)."""
        name = super().get_serializer_name(serializer, direction).removesuffix("Serializer")
        if direction == "request":
            return name.removesuffix("Request").removesuffix("Input")
        return name.removesuffix("Out")


class ListSerializerLengthExtension(OpenApiSerializerFieldExtension):
    """A nested `many=True` serializer's min_length / max_length (and allow_empty=False) as the
    array's minItems / maxItems, which drf-spectacular leaves out."""

    target_class = "rest_framework.serializers.ListSerializer"

    def map_serializer_field(self, auto_schema, direction):
        schema = {"type": "array", "items": auto_schema.resolve_serializer(self.target.child, direction).ref}
        min_length = self.target.min_length
        if min_length is None and not self.target.allow_empty:
            min_length = 1
        if min_length is not None:
            schema["minItems"] = min_length
        if self.target.max_length is not None:
            schema["maxItems"] = self.target.max_length
        return schema
