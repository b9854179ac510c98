"""The OpenAPI document's prose: a summary and a description for every operation, request and
response examples, and the event stream (served by a channels consumer, so no DRF view describes it).

Added by one post-processing hook (``document``, in ``SPECTACULAR_SETTINGS``) from the catalogue
in ``operations``, so the views keep their code and the catalogue is read in one place; a test
walks the generated schema and fails on any operation the catalogue does not describe.
"""

from .hook import document

__all__ = ["document"]
