"""Typed errors of fine-tuning. Each ``str()`` is one sentence for the user."""

from __future__ import annotations

from retrain.errors import RetrainError


class FinetuneError(RetrainError):
    """Base class for every error fine-tuning raises on purpose."""

    default_message = "fine-tuning the speech model failed; details are in the log file."


class FinetuneUnavailable(FinetuneError, ImportError):
    """The optional ``tiro[finetune]`` extra (PyTorch, transformers) is not installed."""

    default_message = (
        "fine-tuning is not available in this installation (it needs the optional "
        "PyTorch and transformers packages); Tiro keeps learning your vocabulary and "
        "correction rules."
    )


class TrainingCancelled(FinetuneError):
    """Training was cancelled; nothing was written."""

    default_message = "fine-tuning was cancelled; the current model is unchanged."


class NoTrainingExamples(FinetuneError):
    """Nothing usable to train on (no example, or every one too long or empty)."""

    default_message = (
        "there are no corrected segments of at most 30 seconds to learn from yet; "
        "review a few more transcripts and try again."
    )
