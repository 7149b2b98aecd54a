"""The wire APIs, sans I/O: one module per API (requests, answers, errors, usage), SSE
framing and decoding, and the registry naming them; imports only ``harness.contract``, the
standard library and orjson."""
