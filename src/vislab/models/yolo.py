"""YOLO detectors through ultralytics (optional extra `vislab[yolo]`; ultralytics is AGPL-3.0).

`ultralytics:NAME` with NAME an ultralytics model (yolov8n, yolo11s, ...). `pretrained`: `none`
(NAME.yaml: the architecture with random weights, nothing fetched), `hub` (NAME.pt, fetched by
ultralytics: needs a network), or a local `.pt` file written by ultralytics.

Training uses ultralytics' own trainer (`training_yolo.py`); this module holds the model behind
torchvision's detector interface, so that prediction, evaluation and the report are the same
as for every other detector: float images in [0, 1] in, per image `boxes`, `labels` (1..K) and
`scores` out, the 100 best above a score of 0.001 after ultralytics' NMS (IoU 0.7), as its
validator keeps them for mAP.
"""

from __future__ import annotations

import copy
import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vislab.errors import ConfigError

PREFIX = "ultralytics:"
MIN_SCORE, NMS_IOU, MAX_DETECTIONS = 0.001, 0.7, 100


def is_yolo(backbone: str) -> bool:
    return backbone.startswith(PREFIX) and len(backbone) > len(PREFIX)


def quiet_ultralytics(settings_dir: str | Path | None = None) -> None:
    """No settings file in the home folder, no telemetry, no banners (set before importing)."""
    folder = settings_dir or Path(os.environ.get("TMPDIR", "/tmp")) / "vislab-ultralytics"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(folder))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    os.environ["YOLO_AUTOINSTALL"] = "False"  # never pip-install packages behind the user's back


def import_ultralytics():
    quiet_ultralytics()
    try:
        import ultralytics
        from ultralytics.utils import patches
    except ImportError as error:
        raise ConfigError(
            "model.backbone: ultralytics models need the optional extra: pip install "
            "'vislab[yolo]' (ultralytics is licensed AGPL-3.0)."
        ) from error
    _restore_pil_open(patches)
    return ultralytics


def _restore_pil_open(patches) -> None:
    """ultralytics replaces PIL.Image.open process-wide (an unreadable file then tries to install
    a HEIF plugin instead of raising PIL's error): vislab's readers need PIL's own."""
    from PIL import Image

    original = getattr(patches, "_image_open", None)
    if original is not None:
        Image.open = original


# Set by `vislab train --trust-pickled-weights`, never by a config file (which may be shared).
PICKLES_TRUSTED: ContextVar[bool] = ContextVar("pickles_trusted", default=False)


@contextmanager
def trusting_pickled_weights(trusted: bool):
    """Within it, a local ultralytics .pt (a pickle) may be loaded, if `trusted`."""
    token = PICKLES_TRUSTED.set(trusted)
    try:
        yield
    finally:
        PICKLES_TRUSTED.reset(token)


def starting_point(backbone: str, pretrained: str) -> str:
    """What ultralytics builds the model from: NAME.yaml, NAME.pt, or a local .pt file.

    A local .pt is a pickle that ultralytics unpickles: code in it runs. It is used only when
    the user said so on the command line (ultralytics also takes a NAME.pt lying in the
    working folder before it downloads one)."""
    name = backbone.removeprefix(PREFIX)
    if pretrained == "none":
        return f"{name}.yaml"
    local = Path(f"{name}.pt") if pretrained == "hub" else Path(pretrained)
    if pretrained != "hub" and not local.is_file():
        raise ConfigError(f"model.pretrained: {pretrained} is not a file (an ultralytics .pt).")
    if local.is_file() and not PICKLES_TRUSTED.get():
        raise ConfigError(
            f"model.pretrained: {local} is a pickled file, and loading it runs any code it "
            "holds (a config or folder someone shared can plant one). If the file is yours, "
            "say so: vislab train ... --trust-pickled-weights. Otherwise start from none."
        )
    return str(local) if pretrained != "hub" else f"{name}.pt"


class YoloDetector(nn.Module):
    """An ultralytics DetectionModel behind torchvision's detector interface (prediction)."""

    def __init__(self, net: nn.Module, classes: list[str], image_size: int) -> None:
        super().__init__()
        self.net = net
        self.net.names = dict(enumerate(classes))
        self.image_size = image_size
        self._cache: dict = {}  # ultralytics fuses conv + bn in place: predict with a copy

    @classmethod
    def from_name(cls, backbone: str, classes: list[str], image_size: int):
        """The architecture of `ultralytics:NAME`, rebuilt from ultralytics' own NAME.yaml —
        never from a dict stored in a run folder, which ultralytics would hand to `eval`."""
        name = backbone.removeprefix(PREFIX)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or ".." in name:
            raise ConfigError(
                f"model.backbone: '{backbone}' is not an ultralytics model name (e.g. "
                "ultralytics:yolov8n)."
            )
        import_ultralytics()
        from ultralytics.nn.tasks import DetectionModel

        net = DetectionModel(f"{name}.yaml", nc=len(classes), verbose=False)
        return cls(net, classes, image_size)

    def forward(self, images: list[torch.Tensor], targets=None):
        if self.training:
            raise RuntimeError("YOLO models train with ultralytics' trainer (vislab train).")
        if "predictor" not in self._cache:
            from ultralytics import YOLO

            predictor = YOLO(self.net.yaml.get("yaml_file") or "yolov8n.yaml")
            predictor.model = copy.deepcopy(self.net).float().eval()
            self._cache["predictor"] = predictor
        arrays = [_to_bgr(image) for image in images]
        results = self._cache["predictor"].predict(
            arrays,
            imgsz=self.image_size,
            conf=MIN_SCORE,
            iou=NMS_IOU,
            max_det=MAX_DETECTIONS,
            verbose=False,
            device="cpu",
        )
        return [
            {
                "boxes": r.boxes.xyxy.float(),
                "labels": r.boxes.cls.long() + 1,
                "scores": r.boxes.conf.float(),
            }
            for r in results
        ]

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        self._cache.clear()
        return super().load_state_dict(state, strict=strict, assign=assign)


def _to_bgr(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float RGB in [0, 1] -> (H, W, 3) uint8 BGR, as ultralytics reads arrays."""
    pixels = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return np.ascontiguousarray(pixels.permute(1, 2, 0).numpy()[:, :, ::-1])
