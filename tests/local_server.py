"""A serving ingress in this process: the gRPC server of one replica on its own event loop thread,
with the models run in-process through the same ``ModelRunner`` interface the Ray deployments
implement. Tests that need the gRPC surface without Ray Serve use it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from content_signals.config import PlatformConfig, TextEncoderConfig
from content_signals.layout import DataLayout
from content_signals.models.networks import TEXT_CLASSIFIER, load_model
from content_signals.models.text_encoder import shared_encoder
from content_signals.serving.grpc_server import SignalsServer, start_server
from content_signals.serving.scoring import ModelVersions, discover_models, forward_pass
from content_signals.serving.similarity_plane import LocalQueryEncoder


class LocalRunner:
    """The model deployments' job (a forward pass per model version), in this process."""

    def __init__(
        self, models: dict[str, ModelVersions], text_encoder: TextEncoderConfig | None = None
    ) -> None:
        self.models = {
            (name, version): (model.card, load_model(model.path)[1])
            for name, versions in models.items()
            for version, model in versions.versions.items()
        }
        needs_encoder = any(card.kind == TEXT_CLASSIFIER for card, _ in self.models.values())
        self.encoder = (
            shared_encoder(text_encoder or TextEncoderConfig(device="cpu")) if needs_encoder else None
        )

    async def predict(
        self, model: str, version: str, inputs: np.ndarray | list[str]
    ) -> tuple[np.ndarray, int]:
        import torch

        card, network = self.models[(model, version)]
        return forward_pass(card, network, inputs, self.encoder, torch.device("cpu")), len(inputs)


class LocalEncoder:
    """SimilarContent's text encoder in this process (the Ray app's ``TextEncoder`` deployment's
    job), loaded on first use so that servers never asked for text pay nothing."""

    def __init__(self, config: TextEncoderConfig) -> None:
        self.config = config.model_copy(update={"device": "cpu"})
        self._encoder: LocalQueryEncoder | None = None

    def _loaded(self) -> LocalQueryEncoder:
        if self._encoder is None:
            self._encoder = LocalQueryEncoder(shared_encoder(self.config))
        return self._encoder

    @property
    def digest(self) -> str:
        return self._loaded().digest

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await self._loaded().embed(texts)


class ServerThread:
    """A :class:`SignalsServer` on its own event loop, as in an ingress replica."""

    def __init__(self, config: PlatformConfig, models: dict[str, ModelVersions] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        models = discover_models(DataLayout(config.data_dir)) if models is None else models
        encoder = LocalEncoder(config.models.text_encoder)
        self.server: SignalsServer = self._run(start_server(config, models, LocalRunner(models), 0, encoder))
        self.target = f"127.0.0.1:{self.server.port}"

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def stop(self, grace_s: float = 1.0) -> None:
        self._run(self.server.stop(grace_s))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
