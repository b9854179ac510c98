"""A JSON parser that turns every malformed body into a 400, never a 500."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        try:
            # Lone UTF-16 surrogates are legal JSON escapes but no database can store them.
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - text that is not valid Unicode (a lone surrogate)") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        return data
