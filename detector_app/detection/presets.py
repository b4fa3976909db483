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
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, _resnet_fpn_extractor
from torchvision.models.detection.retinanet import RetinaNetClassificationHead, RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detector_app.detection.preset_names import DEFAULT_PRESET as DEFAULT_PRESET  # re-exported for callers
from detector_app.detection.preset_names import PRESET_DESCRIPTIONS

PRIOR_PROBABILITY = 0.01
# Per FPN level (P3-P7), three sizes an octave apart in thirds: torchvision's RetinaNet anchors.
AnchorSizes = tuple[tuple[float, ...], ...]
ASPECT_RATIOS = (0.5, 1.0, 2.0)


def anchor_sizes_from(smallest: float, levels: int = 5) -> AnchorSizes:
    """torchvision's anchor sizes starting at ``smallest`` on P3 (torchvision: 32), doubling per level."""
    return tuple(tuple(float(int(smallest * 2 ** level * 2 ** (k / 3))) for k in range(3)) for level in range(levels))


DEFAULT_ANCHOR_SIZES: AnchorSizes = anchor_sizes_from(32)


def anchor_generator(sizes: AnchorSizes | None) -> AnchorGenerator:
    sizes = sizes or DEFAULT_ANCHOR_SIZES
    return AnchorGenerator(tuple(tuple(level) for level in sizes), (ASPECT_RATIOS,) * len(sizes))


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    builder: Callable[[int, AnchorGenerator], RetinaNet]
    # torchvision weights enum member with COCO weights, or None when the preset has none.
    coco_weights: object | None = None
    default_size: int = 512


def _r50(num_classes: int, anchors: AnchorGenerator) -> RetinaNet:
    model = retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=num_classes)
    model.anchor_generator = anchors  # 9 per location as torchvision's: the heads fit either
    return model


def _r50_v2(num_classes: int, anchors: AnchorGenerator) -> RetinaNet:
    model = retinanet_resnet50_fpn_v2(weights=None, weights_backbone=None, num_classes=num_classes)
    model.anchor_generator = anchors
    return model


def _light(num_classes: int, anchors: AnchorGenerator) -> RetinaNet:
    """ResNet-18 + FPN (P3-P7): about 4x cheaper than R50, trainable from scratch on a CPU.

    Plain BatchNorm (not frozen) because there are no pretrained statistics to keep.
    """
    backbone = resnet18(weights=None, norm_layer=nn.BatchNorm2d)
    fpn = _resnet_fpn_extractor(
        backbone, trainable_layers=5, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256)
    )
    return RetinaNet(fpn, num_classes=num_classes, min_size=512, max_size=853, anchor_generator=anchors)


LIGHT_GN_CHANNELS, LIGHT_GN_GROUPS = 128, 16


def _light_gn(num_classes: int, anchors: AnchorGenerator) -> RetinaNet:
    """ResNet-18 + a 128-channel FPN (P3-P7) + GroupNorm heads with a GIoU box loss, as RetinaNet v2.

    The heads' 4+4 convolutions at P3 cost more than the whole ResNet-18 at 256 channels; at 128 a training
    step is about twice as fast (bench_learning.py). GroupNorm keeps the heads trainable from scratch with
    batches of a few images, where BatchNorm statistics would be noise.
    """
    backbone = resnet18(weights=None, norm_layer=nn.BatchNorm2d)
    layers = {"layer2": "0", "layer3": "1", "layer4": "2"}
    fpn = BackboneWithFPN(backbone, layers, [128, 256, 512], LIGHT_GN_CHANNELS,
                          extra_blocks=LastLevelP6P7(LIGHT_GN_CHANNELS, LIGHT_GN_CHANNELS))
    head = RetinaNetHead(LIGHT_GN_CHANNELS, anchors.num_anchors_per_location()[0], num_classes,
                         norm_layer=partial(nn.GroupNorm, LIGHT_GN_GROUPS))
    head.regression_head._loss_type = "giou"
    return RetinaNet(fpn, num_classes=num_classes, min_size=512, max_size=853, anchor_generator=anchors, head=head)



PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("retinanet_r50_fpn", PRESET_DESCRIPTIONS["retinanet_r50_fpn"], _r50,
               RetinaNet_ResNet50_FPN_Weights.COCO_V1, 800),
        Preset("retinanet_r50_fpn_v2", PRESET_DESCRIPTIONS["retinanet_r50_fpn_v2"], _r50_v2,
               RetinaNet_ResNet50_FPN_V2_Weights.COCO_V1, 800),
        Preset("retinanet_light", PRESET_DESCRIPTIONS["retinanet_light"], _light, None, 512),
        Preset("retinanet_light_gn", PRESET_DESCRIPTIONS["retinanet_light_gn"], _light_gn, None, 512),
    )
}


def coco_class_names() -> tuple[str, ...]:
    """The 91 COCO category names torchvision uses (index = COCO category id; 0 is background)."""
    return tuple(RetinaNet_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def build_model(preset: str, num_classes: int, anchor_sizes: AnchorSizes | None = None) -> RetinaNet:
    """An untrained model of ``preset`` with a head for ``num_classes`` (background included).

    ``anchor_sizes``: per FPN level (``anchor_sizes_from``); None is torchvision's (32 px on P3). A model
    keeps them in ``model.anchor_generator.sizes``; weight files store them (``weights.save_model``).
    """
    try:
        spec = PRESETS[preset]
    except KeyError:
        from detector_app.errors import WeightsError

        raise WeightsError(f"unknown model preset {preset!r}; choose one of {', '.join(PRESETS)}") from None
    return spec.builder(num_classes, anchor_generator(anchor_sizes))


def model_anchor_sizes(model: RetinaNet) -> AnchorSizes:
    return tuple(tuple(float(x) for x in level) for level in model.anchor_generator.sizes)


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
        return partial(nn.GroupNorm, first[1].num_groups)
    return None
