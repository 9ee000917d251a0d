"""Osiris: data pipelines under the Filesystem Contract v1."""

__version__ = "0.4.0"
