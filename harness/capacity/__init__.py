"""Capacity and cost planning: pure computation over finished runs and sweep steps, from what a
run cost to what a month at scale costs, and from step results to the highest load meeting an
SLO. No files, no clock; RNGs are passed in."""
