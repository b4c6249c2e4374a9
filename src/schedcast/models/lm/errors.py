"""What goes wrong on the language-model path, as one clear line each."""

from __future__ import annotations

from schedcast.models.base import ModelError


class LMError(ModelError):
    """A model, adapter, prompt or option that cannot be used; the message says why and what to do."""


def require_ml() -> None:
    """Fail with one line naming the extra when torch, transformers or peft is missing."""
    for module in ("torch", "transformers", "peft"):
        try:
            __import__(module)
        except ImportError as exc:
            raise LMError(
                f"the language-model path needs the package {module} (missing: {exc.name}); "
                "install the ml extra: pip install 'schedcast[ml]'"
            ) from exc
    quiet_transformers()


def quiet_transformers() -> None:
    """No per-file progress bars or deprecation chatter from transformers on our output."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
