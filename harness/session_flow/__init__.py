"""One session flow for both engines, sans I/O: a unit's planned sessions and the outcomes fed
in, what to do next out (send attempt k of request R not before run-clock T, wait for sessions,
start sub-agent sessions, record a session's turns as never sent) and every record decided.

``flow`` holds the sessions and their state machine, ``prompt`` builds each turn's messages
(history, prompt tag), ``records`` makes the attempt records. No asyncio, no gevent, no clock,
no sockets: the asyncio engine (``harness.engine_sessions``) drives it with tasks on its
injected clock, the Locust worker (``harness.locust.sessions``) with greenlets.
"""
