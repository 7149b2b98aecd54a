"""The system under test's own metrics and the harness's live ones, while a run goes.

``scrape`` polls Prometheus text endpoints (``--watch URL``) into the run's ``watch.jsonl``;
``leak`` judges a watched memory series (bytes per hour with a confidence interval) and
summarises the file for ``summary.json``; ``live`` serves the harness's own figures in the
Prometheus format (``--metrics-port``). Parsing is prometheus-client's, never our own.
"""
