"""Adapters: the only code that touches targets, HTTP endpoints and archives."""
