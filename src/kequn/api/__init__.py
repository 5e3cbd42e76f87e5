"""The HTTP interface: REST API under ``/api`` and the server-rendered console (``create_app``)."""

from kequn.api.app import create_app

__all__ = ["create_app"]
