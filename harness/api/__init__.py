"""The wire APIs, sans I/O: one module per API (requests built and parsed, answers rendered and
decoded, errors and usage), SSE framing and decoding, and the registry naming them; imports
only ``harness.contract``, the standard library and orjson."""
