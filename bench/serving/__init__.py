"""The serving benchmark's parts, one module per contender; ``python -m bench.bench_serving`` runs it."""
