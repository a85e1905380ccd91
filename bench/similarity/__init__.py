"""Parts of ``bench/bench_similarity.py``: the vectors, each contender, and the results table."""
