"""The model lifecycle: networks, training per model kind, evaluation and cards, the registry,
decisions, the review loop, the text encoder and features, and batch scoring."""
