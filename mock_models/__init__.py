"""The mock model server: OpenAI- and Anthropic-compatible, with a latency model, a fault profile
and a ledger of every attempt.

Entry points: ``mock_models.http.server.build_app`` / ``serve`` (in-process),
``mock_models.embedded.EmbeddedMock`` (child process), ``python -m mock_models`` (command line).
Kept import-free so that reading ``mock_models.settings`` does not load aiohttp.
"""
