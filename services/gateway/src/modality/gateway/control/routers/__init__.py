"""Thin HTTP adapters: parse, call ``ControlService``, shape the response."""
