"""``ag.nn``: modules, layers, losses and initialisers, PyTorch-like.

>>> import ag, numpy as np
>>> model = ag.nn.Sequential(ag.nn.Linear(64, 128), ag.nn.ReLU(), ag.nn.Linear(128, 10))
>>> loss = ag.nn.CrossEntropyLoss()(model(np.zeros((8, 64))), np.zeros(8, dtype=int))
>>> loss.backward()

Files: ``module.py`` (Module, state dicts, save/load), ``layers.py`` (Linear,
activations, containers, Dropout, Embedding, norms, MLP), ``recurrent.py`` (RNN,
LSTM), ``attention.py`` (the course's SingleHeadAttention, MultiHeadAttention,
TransformerBlock), ``losses.py``, ``functional.py`` (the same as functions),
``init.py`` (Kaiming/Xavier); convolution and pooling in ``conv.py``,
``conv_functional.py``, ``pooling.py`` and ``im2col.py``.
"""

from ag.nn import functional, init
from ag.nn.attention import MultiHeadAttention, SingleHeadAttention, TransformerBlock
from ag.nn.conv import Conv2d
from ag.nn.layers import (
    MLP,
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    ReLU,
    Residual,
    Sequential,
    Sigmoid,
    Tanh,
)
from ag.nn.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from ag.nn.module import Module, StateDictError, load, save
from ag.nn.pooling import AvgPool2d, MaxPool2d
from ag.nn.recurrent import LSTM, RNN

__all__ = [
    "Module",
    "StateDictError",
    "save",
    "load",
    "functional",
    "init",
    "Linear",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Identity",
    "Sequential",
    "Residual",
    "Flatten",
    "Dropout",
    "Embedding",
    "LayerNorm",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "MLP",
    "RNN",
    "LSTM",
    "SingleHeadAttention",
    "MultiHeadAttention",
    "TransformerBlock",
    "MSELoss",
    "CrossEntropyLoss",
    "BCEWithLogitsLoss",
]
