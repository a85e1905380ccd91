"""Similarity: the nearest-neighbour index of the published text embeddings.

``index`` builds and updates the index as a versioned artifact beside the ``content_embedding``
partition it came from (swapped into place atomically, like partitions) and opens it memory-mapped
for serving; ``search`` answers "the k nearest items to this vector" with the filters callers need.
The library choice (usearch) and its measured grounds are in ``docs/vector-index.md``.
"""
