"""The mock's simulation: what a model server would do, with no HTTP in it.

The batching scheduler and its asyncio driver (``batching``, ``engine``), the latency model
(``latency``), prefix and explicit prompt caches, provider rate limits, the ticker that paces
constant-latency streams, the injected clock, one attempt's up-front plan (``attempt``), and
the counters ``/metrics`` exposes. Nothing here imports ``mock_models.http`` or
``mock_models.chaos``.
"""
