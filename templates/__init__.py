"""Jinja templates of the lstmgen back ends (package data)."""
