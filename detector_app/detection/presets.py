"""Detector presets: each builds a torchvision RetinaNet.

``num_classes`` counts the background (torchvision convention): a model for ``circle, square`` has
``num_classes=3`` and class names ``("__background__", "circle", "square")``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from torch import nn
from torchvision.models import resnet18
from torchvision.models.detection import (
    RetinaNet,
    RetinaNet_ResNet50_FPN_V2_Weights,
    RetinaNet_ResNet50_FPN_Weights,
    retinanet_resnet50_fpn,
    retinanet_resnet50_fpn_v2,
)
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.retinanet import RetinaNetClassificationHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detector_app.detection.preset_names import DEFAULT_PRESET as DEFAULT_PRESET  # re-exported for callers
from detector_app.detection.preset_names import PRESET_DESCRIPTIONS

PRIOR_PROBABILITY = 0.01


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    builder: Callable[[int], RetinaNet]
    # torchvision weights enum member with COCO weights, or None when the preset has none.
    coco_weights: object | None = None
    default_size: int = 512


def _r50(num_classes: int) -> RetinaNet:
    return retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes)


def _r50_v2(num_classes: int) -> RetinaNet:
    return retinanet_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=num_classes)


def _light(num_classes: int) -> RetinaNet:
    """ResNet-18 + FPN (P3-P7): about 4x cheaper than R50, trainable from scratch on a CPU.

    Plain BatchNorm (not frozen) because there are no pretrained statistics to keep.
    """
    backbone = resnet18(weights=None, norm_layer=nn.BatchNorm2d)
    fpn = _resnet_fpn_extractor(
        backbone, trainable_layers=5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)
    )
    return RetinaNet(fpn, num_classes=num_classes, min_size=512, max_size=853)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("retinanet_r50_fpn", PRESET_DESCRIPTIONS["retinanet_r50_fpn"], _r50,
               RetinaNet_ResNet50_FPN_Weights.COCO_V1, 800),
        Preset("retinanet_r50_fpn_v2", PRESET_DESCRIPTIONS["retinanet_r50_fpn_v2"], _r50_v2,
               RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1, 800),
        Preset("retinanet_light", PRESET_DESCRIPTIONS["retinanet_light"], _light, None, 512),
    )
}


def coco_class_names() -> tuple[str, ...]:
    """The 91 COCO category names torchvision uses (index = COCO category id; 0 is background)."""
    return tuple(RetinaNet_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def build_model(preset: str, num_classes: int) -> RetinaNet:
    """An untrained model of ``preset`` with a head for ``num_classes`` (background included)."""
    try:
        spec = PRESETS[preset]
    except KeyError:
        from detector_app.errors import WeightsError

        raise WeightsError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}") from None
    return spec.builder(num_classes)


def replace_classification_head(model: RetinaNet, num_classes: int) -> None:
    """Give ``model`` a new classification head for ``num_classes``, keeping backbone, FPN and box head.

    The new head's bias starts at -log((1 - pi) / pi) with pi = 0.01, as in the RetinaNet paper, so
    the focal loss is not swamped by easy negatives in the first steps.
    """
    old = model.head.classification_head
    in_channels = old.conv[0][0].in_channels if isinstance(old.conv[0], nn.Sequential) else old.conv[0].in_channels
    num_anchors = model.anchor_generator.num_anchors_per_location()[0]
    norm_layer = _head_norm_layer(old)
    head = RetinaNetClassificationHead(in_channels, num_anchors, num_classes, prior_probability=PRIOR_PROBABILITY,
                                       norm_layer=norm_layer)
    model.head.classification_head = head


def _head_norm_layer(head: RetinaNetClassificationHead) -> Callable[[int], nn.Module] | None:
    first = head.conv[0]
    if isinstance(first, nn.Sequential) and len(first) > 1 and isinstance(first[1], nn.GroupNorm):
        return partial(nn.GroupNorm, 32)
    return None
