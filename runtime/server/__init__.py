"""The HTTP server: A2A protocol, JSON-RPC task API, authentication, callbacks."""

from aipartnerupflow.runtime.server.app import create_app, run_server
from aipartnerupflow.runtime.server.auth import issue_token

__all__ = ["create_app", "issue_token", "run_server"]
