"""Image uploads go to the pipeline as uploaded: no re-encoding by Gradio before the task starts."""

import tempfile
from pathlib import Path

import numpy as np
from gradio.data_classes import ImageData
from gradio.utils import get_upload_folder
from PIL import Image

from components.common import SafeImage
from pipelines.inputs import load_image


def test_rgba_upload_is_passed_through_and_flattened_on_white():
    Path(get_upload_folder()).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(dir=get_upload_folder())) / "screenshot.png"  # where an upload lands
    pixels = np.zeros((40, 60, 4), dtype=np.uint8)  # fully transparent
    Image.fromarray(pixels, "RGBA").save(path)
    received = SafeImage(type="filepath").preprocess(ImageData(path=str(path), orig_name="screenshot.png"))
    assert received == str(path)  # not a converted copy
    img = load_image(received)
    assert img.mode == "RGB" and img.getpixel((0, 0)) == (255, 255, 255)


def test_page_config_keeps_every_image_setting():
    """Gradio builds the front-end config from the constructor's signature."""
    config = SafeImage(type="filepath", elem_id="x", sources=["upload"], label="L").get_config()
    assert config["elem_id"] == "x" and config["sources"] == ["upload"] and config["label"] == "L"
    assert config["image_mode"] is None
