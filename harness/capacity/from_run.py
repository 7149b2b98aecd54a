"""A run directory's data in (``RunData``: summary, manifest, plan, records, ledger), its
``RunCosts`` out, priced exactly as its summary was: the same billed attempts, the same
prices, so the run's own cost comes back to the cent."""

from __future__ import annotations

from harness.capacity.costs import RunCosts, run_costs, sent_order
from harness.contract.terms import RunTerms
from harness.cost import load_price_book
from harness.metrics.inputs import SummaryInputs
from harness.metrics.upstream_figures import upstream_and_cost
from harness.stats.run_data import RunData


def costs_of_run(run: RunData) -> RunCosts:
    """``ValueError`` (one line) when the run cannot be priced or has no records."""
    if run.records is None:
        raise ValueError(f"{run.label}: records.jsonl is missing, so there is nothing to price")
    scenario = run.manifest.get("scenario")
    terms = RunTerms.model_validate(scenario if isinstance(scenario, dict) else {})
    book = load_price_book(terms.prices)
    duration_s = float(run.summary.get("duration_s") or terms.duration)
    inputs = SummaryInputs(
        run_id=str(run.summary.get("run_id") or run.label),
        duration_s=duration_s,
        plan=run.plan,
        records=run.records,
        ledger=run.ledger,
        prices=book,
        slo=terms.slo,
        client_cpu_s=None,
        wall_s=None,
        ledger_url=None,
        ledger_origin=str(run.manifest.get("ledger_origin") or "unknown"),
    )
    first_sent: dict[str, float] = {}
    for record in run.records:
        if record.sent_s is not None:
            first_sent.setdefault(record.request_id, record.sent_s)
            first_sent[record.request_id] = min(first_sent[record.request_id], record.sent_s)
    _, items = upstream_and_cost(inputs, len(first_sent), [])
    return run_costs(items, book, sent_order(first_sent), duration_s)
