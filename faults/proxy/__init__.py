"""The fault proxy: the fault catalogue in front of any real upstream, with a ledger."""
