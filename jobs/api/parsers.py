"""A JSON parser that turns every malformed body into a 400, never a 500, and reads at most
``API_MAX_BODY_BYTES`` (413 beyond it, before anything is parsed).

Its memory is the body's bytes, then its text, then the parsed document (docs/API.md gives the
peak measured for a body at the limit); objects and arrays, the dearest per byte, are capped.
It makes no second copy: lone UTF-16 surrogates, which no database can store, can only come
from ``\\uD800``…``\\uDFFF`` escapes (a strictly decoded text has none), so the document is
walked for them only when the text holds such an escape.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.json import strict_constant

from ..conf import conf
from .bodies import too_large
from .conf import api_conf
from .errors import Problem
from .scope import check_body_size

#: Bodies may hold one JSON object or array per this many bytes of the limit: an empty ``{}`` costs
#: 72 bytes of heap for its 3 bytes of text, so a body of nothing else would cost 25 times its size.
BYTES_PER_CONTAINER = 32
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: A JSON string (skipped) or an opening bracket outside strings (counted).
STRING_OR_OPENING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{]')
SURROGATE = re.compile("[\ud800-\udfff]")


def _containers(text: str, cap: int) -> int:
    """The objects and arrays ``text`` opens, counted exactly only when a rough count passes ``cap``."""
    rough = text.count("{") + text.count("[")
    if rough <= cap:
        return rough
    return sum(1 for m in STRING_OR_OPENING.finditer(text) if m.group() in ("[", "{"))


def _strings(data: Any) -> Iterator[str]:
    """Every string of a parsed document, keys included, without recursion."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class StrictJSONParser(BaseParser):
    """``application/json``. Not a DRF ``JSONParser``: DRF hands those ``request.body``, which Django
    refuses past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (an error DRF does not turn into a response);
    any other parser gets the request's stream, which this one reads up to the API's own limit."""

    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        context = parser_context or {}
        limit = api_conf().API_MAX_BODY_BYTES
        if context.get("request") is not None:
            check_body_size(context["request"], limit)  # a declared length over the limit: nothing read
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            document = too_large(limit)
            raise Problem(413, document["detail"], kind="payload-too-large", extra={"limit": limit})
        try:
            text = raw.decode(context.get("encoding", settings.DEFAULT_CHARSET))
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        del raw
        # However small the limit, a full batch of specs with object payloads fits.
        cap = max(limit // BYTES_PER_CONTAINER, 2 * conf().MAX_BATCH)
        if _containers(text, cap) > cap:
            raise Problem(413, f"The body holds more than {cap} JSON objects and arrays (one per "
                               f"{BYTES_PER_CONTAINER} bytes of API_MAX_BODY_BYTES).", kind="payload-too-large",
                          extra={"limit": limit})
        try:
            data = json.loads(text, parse_constant=strict_constant)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if SURROGATE_ESCAPE.search(text) and any(SURROGATE.search(s) for s in _strings(data)):
            raise ParseError("JSON parse error - text that is not valid Unicode (a lone surrogate)")
        return data
