"""How a pipeline's UserFacingError crosses back from the ZeroGPU worker, which passes back only a gr.Error.

The class is gradio's, so it lives here and not in pipelines/ (which import no gradio); use() hands it to
pipelines/zerogpu.py, whose carry_errors and restore_errors wrap each model call.
"""

from __future__ import annotations

import gradio as gr

from pipelines import zerogpu
from pipelines.errors import UserFacingError


class CarriedError(gr.Error):
    """A UserFacingError on its way back from the ZeroGPU worker."""

    def __init__(self, error_class: type[UserFacingError], key: str, params: dict):
        super().__init__(str(error_class(key, **params)), print_exception=False)
        self.error_class, self.key, self.params = error_class, key, params

    def __reduce__(self):
        return CarriedError, (self.error_class, self.key, self.params)


def use() -> None:
    """Carry errors back as CarriedError from now on (before the first model call: build_demo)."""
    zerogpu.carrier = CarriedError
