"""Model factories: the ``torch.nn.Module`` s that studies train through ``ModuleLoss``, by name.

A model is named ``name:width`` (``"sigmoid_mlp:4"``, ``"small_cnn:2"``); ``make_model``
looks the name up in ``MODELS`` and builds a fresh module of that width. The module's
own initial weights do not matter to a study: ``ModuleLoss.init`` draws every run's
start from its own generator.

- ``sigmoid_mlp(w)``: the 1-w-w-1 sigmoid network of Freeman & Bruna's polynomial
  regression (ICLR 2017), x -> L3 sigma(L2 sigma(L1 x)); w^2 + 4w + 1 parameters (weights
  and biases) for one input and one output.
- ``small_cnn(c)``: a 3 x 3 convolution with c channels on 1 x 8 x 8 images, ReLU, and a
  linear layer from the c x 6 x 6 features to 10 class scores (scikit-learn's digits,
  ``landscope.data.digit_images``), 370 c + 10 parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import numpy as np
import torch

__all__ = ["MODELS", "make_model", "parse_model", "sigmoid_mlp", "small_cnn"]


def _width(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def sigmoid_mlp(width: int, *, d_in: int = 1, d_out: int = 1) -> torch.nn.Sequential:
    """A d_in-width-width-d_out network with two sigmoid hidden layers.

    Args:
        width: units of each hidden layer.
        d_in: input features.
        d_out: outputs.

    Raises:
        ValueError: width, d_in or d_out is not a positive integer.
    """
    w, d_in, d_out = _width("width", width), _width("d_in", d_in), _width("d_out", d_out)
    return torch.nn.Sequential(
        torch.nn.Linear(d_in, w),
        torch.nn.Sigmoid(),
        torch.nn.Linear(w, w),
        torch.nn.Sigmoid(),
        torch.nn.Linear(w, d_out),
    )


def small_cnn(
    channels: int, *, side: int = 8, kernel: int = 3, classes: int = 10
) -> torch.nn.Sequential:
    """One convolution, ReLU, and a linear read-out: 1 x side x side images -> class scores.

    Args:
        channels: output channels of the convolution (no padding, stride 1).
        side: height and width of the input images (8 for the digits).
        kernel: the convolution's kernel size (at most ``side``).
        classes: class scores out.

    Raises:
        ValueError: a size is not a positive integer, or the kernel is larger than the
            image.
    """
    c, side = _width("channels", channels), _width("side", side)
    kernel, classes = _width("kernel", kernel), _width("classes", classes)
    if kernel > side:
        raise ValueError(f"kernel {kernel} is larger than the {side} x {side} image.")
    out = side - kernel + 1
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, c, kernel),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(c * out * out, classes),
    )


# name -> factory of one positive integer (the width); read-only, no module-level state
MODELS: Mapping[str, Callable[[int], torch.nn.Module]] = MappingProxyType(
    {"sigmoid_mlp": sigmoid_mlp, "small_cnn": small_cnn}
)


def parse_model(spec: str) -> tuple[str, int]:
    """``"sigmoid_mlp:4"`` -> ``("sigmoid_mlp", 4)``.

    Raises:
        ValueError: the name is not in ``MODELS`` or the width is not a positive integer.
    """
    name, _, width = str(spec).partition(":")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} in {spec!r}; use one of {', '.join(MODELS)}.")
    if not width.isdigit() or int(width) < 1:
        raise ValueError(f"model {spec!r} needs a positive integer width, as in {name}:4.")
    return name, int(width)


def make_model(spec: str) -> torch.nn.Module:
    """A fresh module for ``spec`` = ``name:width`` (see ``MODELS``), float32 as torch makes it.

    ``ModuleLoss`` casts it to its dtype and device.

    Raises:
        ValueError: as ``parse_model``.
    """
    name, width = parse_model(spec)
    return MODELS[name](width)
