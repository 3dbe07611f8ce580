"""PyTorch modules whose parameters are ISS-addressable (torch ``nn.LSTM`` naming)."""

from __future__ import annotations

from .lstm import LMState, LSTMClassifier, LSTMLanguageModel, LSTMStack, StackState

__all__ = ["LMState", "LSTMClassifier", "LSTMLanguageModel", "LSTMStack", "StackState"]
