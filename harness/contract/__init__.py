"""The contract layer: the vocabulary every other part of tokenstorm shares, importing none of them.

- ``records``: planned requests, client attempt records and upstream ledger lines, their JSON
  lines form and schema versions;
- ``outcomes``: the closed set of attempt outcomes;
- ``quantities``: durations and rates written with units;
- ``prompt_text``: the synthetic prompt text and the mock's whitespace tokenizer;
- ``distributions``, ``traffic``, ``target``, ``terms``: the scenario's spec models (sampled
  quantities, arrivals and trace replay, where and how to send, SLO and prices).

The scenario as a whole (``workloads.scenario``) is assembled from these parts and from each
workload kind's own model.
"""
