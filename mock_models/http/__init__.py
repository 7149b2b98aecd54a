"""The mock's HTTP layer: the aiohttp application and its routes (chat, completions,
messages, embeddings, models, health, ledger, metrics, admin), per-deployment listeners, and
the answer paths that write JSON bodies and SSE streams through ``harness.api``.

Routes take narrow protocols of what they need (``admin.AdminService``,
``answer_service.AttemptService``), not the whole server object.
"""
