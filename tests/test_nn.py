"""LSTM stack and heads: torch nn.LSTM compatibility, state carrying, tied weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lstmgen.checkpoint import ModelConfig, build_module
from lstmgen.nn import LSTMClassifier, LSTMLanguageModel, LSTMStack

pytestmark = pytest.mark.unit


def test_stack_matches_nn_lstm():
    torch.manual_seed(0)
    ref = nn.LSTM(5, 7, num_layers=3, batch_first=True)
    stack = LSTMStack(5, (7, 7, 7))
    stack.load_state_dict(ref.state_dict())
    x = torch.randn(4, 6, 5)
    want, (h, c) = ref(x)
    got, state = stack(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.cat([s[0] for s in state]), h, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.cat([s[1] for s in state]), c, rtol=0, atol=1e-6)


def test_classifier_loads_nn_lstm_and_linear():
    torch.manual_seed(1)
    lstm, head = nn.LSTM(8, 6, num_layers=2, batch_first=True), nn.Linear(6, 10)
    sd = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    sd.update({f"head.{k}": v for k, v in head.state_dict().items()})
    model = LSTMClassifier(8, (6, 6), 10)
    model.load_state_dict(sd)
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(model(x), head(lstm(x)[0][:, -1]), rtol=0, atol=1e-6)


def test_per_layer_sizes_and_state_carrying():
    torch.manual_seed(2)
    model = LSTMLanguageModel(vocab=11, n_in=4, hidden=(5, 3, 1)).eval()
    x = torch.randint(0, 11, (2, 9))
    whole = model(x)
    assert whole.shape == (2, 9, 11)
    first, state = model.forward_with_state(x[:, :4])
    second, _ = model.forward_with_state(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, rtol=0, atol=1e-6)


def test_tied_weights_are_one_parameter():
    cfg = ModelConfig(kind="lm", n_in=6, hidden=(4, 6), n_out=9, vocab=9, tied=True)
    model = build_module(cfg)
    assert model.decoder.weight is model.embedding.weight
    assert set(model.state_dict()) >= {"embedding.weight", "decoder.weight"}
