"""The columnar copy of a run's attempt records, for runs of millions of attempts.

``records.jsonl`` stays the interchange form (one JSON line per attempt, flushed line by
line, greppable). Beside it the run writes ``records.parquet.d/part-NNNNN.parquet``: the same
records in typed Arrow columns, one Parquet file per chunk, written as the run goes. Each
chunk says in its metadata up to which byte of ``records.jsonl`` it covers, so a reader takes
the chunks and then parses only the JSONL tail after the last one (what a run killed with
``kill -9`` had not yet put into a chunk). Per-token times are stored as integer microsecond
gaps in a list column: exact for the engine's microsecond times, and about 1 byte a token
once compressed.
"""
