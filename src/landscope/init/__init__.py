"""Initializations: the tensor method for one-hidden-layer networks."""

from .tensor import TensorInit, align_signs, tensor_init

__all__ = ["TensorInit", "align_signs", "tensor_init"]
