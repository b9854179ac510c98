"""gunicorn's settings file for ``manage.py serve`` (``--config python:engine_site.webconf``): the master's hooks."""

from engine_site.webworker import mark_reload

on_reload = mark_reload
