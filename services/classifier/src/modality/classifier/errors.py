"""Errors raised by the classifier package."""

from __future__ import annotations


class ClassifierError(Exception):
    """Base class of every classifier error."""


class ModelFilesMissingError(ClassifierError):
    """The exported model folder (ONNX graphs, tokenizer) or a committed artefact is missing."""


class ContractError(ClassifierError):
    """A backend returned tensors that do not match the tensor contract."""
