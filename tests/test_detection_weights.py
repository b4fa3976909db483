"""Loading models: presets (random or pretrained through torchvision's cache), files, and clear errors."""

from __future__ import annotations

import os
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.models._api as tv_api
from torchvision.models import resnet18
from torchvision.models.detection import retinanet_resnet50_fpn
from torchvision.ops.misc import FrozenBatchNorm2d

from detector_app.detection import weights as weights_mod
from detector_app.detection.presets import coco_class_names
from detector_app.detection.weights import (
    OFFLINE_ENV,
    load_model,
    pretrained_file,
    random_model,
    save_model,
)
from detector_app.errors import WeightsError
from detector_app.paths import app_paths

SHAPES = ("circle", "square")


@pytest.fixture(scope="module")
def r50_state() -> dict[str, torch.Tensor]:
    """Stands in for the COCO file: right architecture, random values (BatchNorm statistics included)."""
    state = random_model("retinanet_r50_fpn", coco_class_names(), seed=11).model.state_dict()
    gen = torch.Generator().manual_seed(0)
    for key, value in state.items():
        if key.endswith("running_var"):
            value.copy_(0.5 + torch.rand(value.shape, generator=gen))
    return state


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every HTTP request fails as it does offline; records the URLs that were tried."""
    tried: list[str] = []

    def refuse(request: object, *args: object, **kwargs: object) -> None:
        tried.append(getattr(request, "full_url", str(request)))
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(weights_mod.urllib.request, "urlopen", refuse)
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    return tried


def test_random_weights_are_reproducible_and_seeded() -> None:
    a = load_model("retinanet_light", weights="none", seed=1, class_names=SHAPES)
    b = load_model("retinanet_light", weights="none", seed=1, class_names=SHAPES)
    c = load_model("retinanet_light", weights="none", seed=2, class_names=SHAPES)
    key = "head.regression_head.bbox_reg.weight"
    assert torch.equal(a.model.state_dict()[key], b.model.state_dict()[key])
    assert not torch.equal(a.model.state_dict()[key], c.model.state_dict()[key])
    assert a.class_names == ("__background__", *SHAPES)
    assert a.preset == "retinanet_light" and not a.model.training


def test_saved_file_round_trips_with_its_metadata(tmp_path: Path) -> None:
    original = load_model("retinanet_light", weights="none", seed=4, class_names=SHAPES)
    path = save_model(tmp_path / "shapes.pth", original.model, preset="retinanet_light", class_names=SHAPES)

    loaded = load_model(path)

    assert loaded.preset == "retinanet_light" and loaded.class_names == original.class_names
    assert loaded.name == "shapes" and loaded.weights_path == path
    for key, value in original.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    assert torch.load(path, weights_only=True).keys() == {"preset", "class_names", "anchor_sizes", "state_dict"}


def test_fitted_anchors_travel_with_the_file_and_older_files_keep_torchvisions(tmp_path: Path) -> None:
    from detector_app.detection.presets import DEFAULT_ANCHOR_SIZES, anchor_sizes_from, build_model

    model = build_model("retinanet_light_gn", len(SHAPES) + 1, anchor_sizes_from(16))
    path = save_model(tmp_path / "fitted.pth", model, preset="retinanet_light_gn", class_names=SHAPES)
    loaded = load_model(path)
    assert loaded.preset == "retinanet_light_gn"
    assert loaded.model.anchor_generator.sizes == anchor_sizes_from(16) and anchor_sizes_from(16)[0] == (16, 20, 25)

    payload = torch.load(path, weights_only=True)
    del payload["anchor_sizes"]  # a version saved before anchors were fitted
    torch.save(payload, tmp_path / "older.pth")
    assert load_model(tmp_path / "older.pth").model.anchor_generator.sizes == DEFAULT_ANCHOR_SIZES
    assert DEFAULT_ANCHOR_SIZES[0] == (32, 40, 50)  # torchvision's

    payload["anchor_sizes"] = [[16, 20]] * 5
    torch.save(payload, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="bad.pth: anchor_sizes must be 5 levels of 3 sizes"):
        load_model(tmp_path / "bad.pth")


def test_file_in_user_models_folder_is_found_by_name() -> None:
    original = load_model("retinanet_light", weights="none", seed=4, class_names=SHAPES)
    save_model(app_paths().models / "my-shapes.pth", original.model, preset="retinanet_light", class_names=SHAPES)
    assert load_model("my-shapes").class_names == original.class_names


def test_bare_state_dict_architecture_is_recognised(tmp_path: Path) -> None:
    original = load_model("retinanet_light", weights="none", seed=6, class_names=SHAPES)
    path = tmp_path / "bare.pth"
    torch.save(original.model.state_dict(), path)

    loaded = load_model(path, class_names=SHAPES)

    assert loaded.preset == "retinanet_light"
    assert loaded.class_names == ("__background__", *SHAPES)
    without_names = load_model(path)
    assert without_names.class_names == ("__background__", "class_1", "class_2")


def test_wrong_architecture_is_a_clear_error(tmp_path: Path) -> None:
    light = load_model("retinanet_light", weights="none", class_names=SHAPES)
    path = save_model(tmp_path / "light.pth", light.model, preset="retinanet_light", class_names=SHAPES)
    with pytest.raises(WeightsError, match=r"light\.pth does not fit the retinanet_r50_fpn architecture: .*missing"):
        _load_as(path, "retinanet_r50_fpn")

    classifier = tmp_path / "resnet.pth"
    torch.save(resnet18().state_dict(), classifier)
    with pytest.raises(WeightsError, match="not a RetinaNet checkpoint"):
        load_model(classifier)


def _load_as(path: Path, preset: str) -> None:
    """A wrapped file whose metadata names another architecture than its weights have."""
    payload = torch.load(path, weights_only=True)
    payload["preset"] = preset
    torch.save(payload, path)
    load_model(path)


def test_wrong_class_count_is_a_clear_error(tmp_path: Path) -> None:
    light = load_model("retinanet_light", weights="none", class_names=SHAPES)
    path = save_model(tmp_path / "two.pth", light.model, preset="retinanet_light", class_names=SHAPES)
    with pytest.raises(WeightsError, match="two.pth has 2 classes but 3 class names were given"):
        load_model(path, class_names=("circle", "square", "star"))


@pytest.mark.parametrize("content", [b"", b"this is not a checkpoint\n"])
def test_unreadable_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="broken.pth is not a readable weight file"):
        load_model(path)


def test_pickled_module_is_refused_by_weights_only(tmp_path: Path) -> None:
    path = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # unpickling it would run arbitrary code paths
    with pytest.raises(WeightsError, match="module.pth was refused as unsafe: it contains Python objects that could run code"):
        load_model(path)


def test_missing_file_and_unknown_name_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weight file not found"):
        load_model(tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="unknown model 'nope': not a preset"):
        load_model("nope")
    with pytest.raises(WeightsError, match="unknown weights option"):
        load_model("retinanet_light", weights="imagenet")


def test_offline_without_cache_names_file_size_and_folder(torch_home: Path, no_network: list[str]) -> None:
    info = pretrained_file("retinanet_r50_fpn")
    with pytest.raises(WeightsError) as err:
        load_model("retinanet_r50_fpn")
    message = str(err.value)
    assert no_network == [info.url]  # it did try, once, and turned the failure into this message
    assert info.file_name == "retinanet_resnet50_fpn_coco-eeacb38b.pth"
    assert info.file_name in message and "130.3 MB" in message
    assert str(app_paths().models) in message and str(torch_home / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_offline_mode_does_not_touch_the_network(torch_home: Path, no_network: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OFFLINE_ENV, "1")
    with pytest.raises(WeightsError, match="offline mode"):
        load_model("retinanet_r50_fpn_v2")
    assert no_network == []


def test_preset_without_pretrained_weights_says_so() -> None:
    with pytest.raises(WeightsError, match="has no pretrained weights"):
        load_model("retinanet_light")


def test_cached_pretrained_file_loads_exactly_like_torchvision(
    torch_home: Path, no_network: list[str], r50_state: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    info = pretrained_file("retinanet_r50_fpn")
    info.cache_path.parent.mkdir(parents=True)
    torch.save(r50_state, info.cache_path)

    loaded = load_model("retinanet_r50_fpn")

    assert no_network == [] and loaded.weights_path == info.cache_path
    assert loaded.class_names == coco_class_names()
    # torchvision's own construction for these weights, fed the same file instead of a download.
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", lambda *a, **k: torch.load(info.cache_path))
    expected = retinanet_resnet50_fpn(weights="COCO_V1").eval()
    frozen = [m for m in loaded.model.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert len(frozen) == 53 and all(m.eps == 0.0 for m in frozen)
    trainable = {n for n, p in loaded.model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, p in expected.named_parameters() if p.requires_grad}
    image = torch.rand(3, 200, 260, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = loaded.model.backbone(loaded.model.transform([image])[0].tensors)
        want = expected.backbone(expected.transform([image])[0].tensors)
    for key in want:
        assert torch.equal(got[key], want[key]), key


def test_user_models_folder_wins_and_custom_classes_get_a_new_head(
    torch_home: Path, no_network: list[str], r50_state: dict[str, torch.Tensor]
) -> None:
    info = pretrained_file("retinanet_r50_fpn")
    info.user_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(r50_state, info.user_path)

    loaded = load_model("retinanet_r50_fpn", class_names=SHAPES)

    assert loaded.weights_path == info.user_path and no_network == []
    assert loaded.class_names == ("__background__", *SHAPES)
    cls_logits = loaded.model.head.classification_head.cls_logits
    assert cls_logits.out_channels == 9 * 3  # 9 anchors x (background + 2 classes)
    key = "backbone.body.layer3.0.conv1.weight"
    assert torch.equal(loaded.model.state_dict()[key], r50_state[key])
    assert np.isclose(float(cls_logits.bias.detach().mean()), -np.log(99), atol=1e-4)



class _ShellCommand:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


@pytest.mark.parametrize("how", ["torch.save", "pickle-2", "pickle-5"])
def test_os_system_payload_is_refused_as_unsafe(tmp_path: Path, how: str) -> None:
    """Issue 11 item 5: torch says "unsupported GLOBAL posix.system whose module posix is blocked" (or, for a
    protocol 4+ pickle, "Unsupported operand 149"); both are a refusal, never "damaged"."""
    import pickle

    from detector_app.detection.weights_metadata import read_torch_file
    from detector_app.errors import TrainingError

    path = tmp_path / "payload.pth"
    if how == "torch.save":
        torch.save({"state_dict": _ShellCommand()}, path)
    else:
        path.write_bytes(pickle.dumps({"state_dict": _ShellCommand()}, protocol=int(how[-1])))
    for error, what in ((WeightsError, "weight file"), (TrainingError, "checkpoint")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch: "Detected pickle protocol 5"
            with pytest.raises(error) as info:
                read_torch_file(path, error, what)
        message = str(info.value)
        assert message.startswith("payload.pth was refused as unsafe: it contains Python objects that could "
                                  "run code when loaded"), message
        assert "damaged" not in message
        if how != "pickle-5":
            assert f"it names '{os.system.__module__}.system'" in message


@pytest.mark.parametrize("text", [
    "Weights only load failed. ... Unsupported global: GLOBAL builtins.eval was not an allowed global by default.",
    "Weights only load failed. ... Trying to load unsupported GLOBAL posix.system whose module posix is blocked.",
    "Weights only load failed. ... Trying to call reduce for unrecognized function <built-in function print>",
    "Weights only load failed. ... Can only create new object for nn.Parameter or classes allowlisted via x",
    "Weights only load failed. ... Can only build Tensor, Parameter, OrderedDict or types allowlisted via x",
    "Weights only load failed. ... Can only SETITEMS for dict, collections.OrderedDict, but got <class 'list'>",
    "Weights only load failed. ... Can only append to lists, but got <class 'dict'>",
    "Weights only load failed. ... Only persistent_load of storage is allowed, but got <class 'str'>",
    "Weights only load failed. ... WeightsUnpickler error: \n\nUnsupported operand 147\n",
    "Weights only load failed. ... ``torch.distributed.tensor`` must be imported to load DTensors",
])
def test_every_weights_only_refusal_wording_is_unsafe(text: str) -> None:
    import pickle

    from detector_app.detection.weights_metadata import _load_failure

    message = _load_failure("x.pth", pickle.UnpicklingError(text), "weight file")
    assert message.startswith("x.pth was refused as unsafe"), message


def test_garbage_is_still_damaged_not_unsafe() -> None:
    import pickle

    from detector_app.detection.weights_metadata import _load_failure

    text = "Weights only load failed. ... WeightsUnpickler error: \n\nUnsupported operand 68\n"
    assert _load_failure("x.pth", pickle.UnpicklingError(text), "weight file") == (
        "x.pth is not a readable weight file: it is not a PyTorch file, or it is damaged")


def test_a_network_failure_reads_as_one(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib's own error for a host that does not resolve, not Python's "<urlopen error [Errno -2] ...>"."""
    import socket

    def unresolved(request: object, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    monkeypatch.setattr(weights_mod.urllib.request, "urlopen", unresolved)
    monkeypatch.delenv(OFFLINE_ENV, raising=False)
    with pytest.raises(WeightsError) as err:
        load_model("retinanet_r50_fpn")
    message = str(err.value)
    assert "download failed: no connection to the download server: Name or service not known)" in message
    assert "urlopen" not in message and "Errno" not in message
