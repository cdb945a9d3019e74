"""Request body parsing: DRF's JSON parser, with a too-deeply nested body answered as 400, not 500."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json raises RecursionError (not ValueError) for a body nested deeper than the stack allows.
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
