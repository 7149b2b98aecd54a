"""The mock on several cores: a parent supervising N worker processes that share one port
(``SO_REUSEPORT``) and answer as one mock (merged ledger, metrics and readiness; faults on all).
"""
