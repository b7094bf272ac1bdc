"""A real uvicorn server on 127.0.0.1 (ephemeral port) in a background thread, for browser and load tests."""

from formwhy.service.threaded import serve_in_thread as live_server

__all__ = ["live_server"]
