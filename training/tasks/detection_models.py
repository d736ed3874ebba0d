"""Detectors on our timm encoders: a feature pyramid, torchvision's FCOS (hbb), a rotated FCOS (obb).

The encoder stays the plain ``timm.create_model`` module that pretraining and classification
use, so its weights load unchanged (``training.weights.load_encoder``). Its multi-scale maps
come from timm's ``forward_intermediates`` (NCHW for Swin too): Swin's four stages give strides
4-32; a ViT has one stride, so a ViTDet-style simple pyramid (Li et al. 2022) makes strides
p/2, p, 2p, 4p from its last map (transposed conv, identity, max-pools). Both feed
``torchvision.ops.FeaturePyramidNetwork``.

* ``hbb``: ``torchvision.models.detection.FCOS`` on that backbone, unchanged (focal loss,
  GIoU, centerness, its own NMS). Its input transform is told the images are already
  standardized and sized (mean 0, std 1, min = max = the input side).
* ``obb``: ``RotatedFCOS`` here: the same anchor-free recipe with an angle. Per pyramid
  location it predicts class logits and ``(dx, dy, log w, log h, angle)`` in stride units;
  a location is positive for the smallest object whose rotated box holds it (or that it is
  the nearest location to) at the level matching the object's size; losses are sigmoid focal
  (locations inside ignored objects left out) and probIoU (``training.tasks.boxes``); outputs
  go through rotated NMS.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn
from torchvision.ops import FeaturePyramidNetwork, sigmoid_focal_loss

from training.tasks.boxes import batched_rotated_nms, probiou_loss


class PyramidBackbone(nn.Module):
    """timm encoder -> 4 maps (strides s, 2s, 4s, 8s) -> FPN with ``out_channels`` each."""

    def __init__(self, encoder: nn.Module, family: str, out_channels: int = 64):
        super().__init__()
        self.encoder, self.family = encoder, family
        info = encoder.feature_info
        if family == "swin":
            chans = [int(f["num_chs"]) for f in info[-4:]]
            self.strides = [int(f["reduction"]) for f in info[-4:]]
            self.simple = None
        else:  # ViTDet simple pyramid from the last map (stride p)
            width, p = int(info[-1]["num_chs"]), int(info[-1]["reduction"])
            half = width // 2
            self.simple = nn.ModuleList([
                nn.Sequential(nn.ConvTranspose2d(width, half, 2, stride=2)),
                nn.Identity(),
                nn.MaxPool2d(2),
                nn.MaxPool2d(4),
            ])
            chans, self.strides = [half, width, width, width], [p // 2, p, 2 * p, 4 * p]
        self.fpn = FeaturePyramidNetwork(chans, out_channels)
        self.out_channels = out_channels

    def forward(self, image: torch.Tensor) -> OrderedDict:
        if self.simple is None:
            maps = self.encoder.forward_intermediates(image, indices=4, intermediates_only=True)  # 4 x [B, C_i, h, w]
        else:
            last = self.encoder.forward_intermediates(image, indices=1, intermediates_only=True)[-1]  # [B, D, h, w]
            maps = [layer(last) for layer in self.simple]
        return self.fpn(OrderedDict((str(i), m) for i, m in enumerate(maps)))


def build_fcos(backbone: PyramidBackbone, num_classes: int, img_size: int, in_chans: int):
    """torchvision FCOS on our pyramid (anchor size = stride, as torchvision's own FCOS)."""
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    anchors = AnchorGenerator(tuple((s,) for s in backbone.strides), ((1.0,),) * len(backbone.strides))
    return FCOS(backbone, num_classes, min_size=img_size, max_size=img_size, image_mean=[0.0] * in_chans,
                image_std=[1.0] * in_chans, anchor_generator=anchors, score_thresh=0.05, nms_thresh=0.5,
                detections_per_img=300, topk_candidates=1000)


def _tower(channels: int, depth: int = 2) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(min(32, channels // 4), channels),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class RotatedFCOS(nn.Module):
    """Anchor-free oriented detector: ``forward(images, targets)`` -> losses (train) or detections."""

    def __init__(self, backbone: PyramidBackbone, num_classes: int, score_thresh: float = 0.05,
                 nms_thresh: float = 0.1, detections: int = 300):
        super().__init__()
        self.backbone, self.num_classes = backbone, num_classes
        self.score_thresh, self.nms_thresh, self.detections = score_thresh, nms_thresh, detections
        c = backbone.out_channels
        self.cls_tower, self.reg_tower = _tower(c), _tower(c)
        self.cls_logits = nn.Conv2d(c, num_classes, 3, padding=1)
        self.box = nn.Conv2d(c, 5, 3, padding=1)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - 0.01) / 0.01))  # focal-loss prior
        nn.init.normal_(self.box.weight, std=0.01)
        nn.init.zeros_(self.box.bias)

    def _heads(self, image: torch.Tensor):
        """Per level: logits ``[B, h*w, K]``, raw boxes ``[B, h*w, 5]``, centres ``[h*w, 2]``, stride."""
        out = []
        for feat, stride in zip(self.backbone(image).values(), self.backbone.strides):
            b, _, h, w = feat.shape
            logits = self.cls_logits(self.cls_tower(feat)).flatten(2).transpose(1, 2)
            raw = self.box(self.reg_tower(feat)).flatten(2).transpose(1, 2)
            ys, xs = torch.meshgrid(torch.arange(h, device=feat.device), torch.arange(w, device=feat.device),
                                    indexing="ij")
            centres = (torch.stack([xs, ys], -1).reshape(-1, 2).to(feat.dtype) + 0.5) * stride
            out.append((logits, raw, centres, stride))
        return out

    @staticmethod
    def decode(raw: torch.Tensor, centres: torch.Tensor, stride: int) -> torch.Tensor:
        """``[..., 5]`` raw outputs -> obb in pixels."""
        xy = centres + raw[..., :2] * stride
        wh = torch.exp(raw[..., 2:4].clamp(max=8.0)) * stride
        return torch.cat([xy, wh, raw[..., 4:5]], -1)

    def forward(self, image: torch.Tensor, targets: list[dict] | None = None):
        levels = self._heads(image)
        if self.training:
            return self.losses(levels, targets)
        return self.detect(levels)

    def losses(self, levels, targets: list[dict]) -> dict:
        logits = torch.cat([lv[0] for lv in levels], 1)  # [B, L, K]
        boxes = torch.cat([self.decode(lv[1], lv[2], lv[3]) for lv in levels], 1)  # [B, L, 5]
        cls_target, valid, box_target, positive = [], [], [], []
        for target in targets:
            ignored, matched = assign(levels, target["obb"].to(logits.device),
                                              target["ignore"].to(logits.device))
            one_hot = torch.zeros_like(logits[0])
            pos = matched >= 0
            one_hot[pos, target["labels"].to(logits.device)[matched[pos]]] = 1.0
            cls_target.append(one_hot)
            valid.append(~ignored)
            padded = torch.cat([target["obb"].to(boxes), boxes.new_ones(1, 5)])  # row -1: a stand-in for none
            box_target.append(padded[matched])
            positive.append(pos)
        cls_target, valid = torch.stack(cls_target), torch.stack(valid)
        positive, box_target = torch.stack(positive), torch.stack(box_target)
        count = positive.sum().clamp(min=1).float()
        focal = sigmoid_focal_loss(logits[valid], cls_target[valid], reduction="sum") / count
        box = probiou_loss(boxes[positive], box_target[positive]).sum() / count if positive.any() else boxes.sum() * 0
        return {"classification": focal, "box": box}

    @torch.no_grad()
    def detect(self, levels) -> list[dict]:
        results = []
        for b in range(levels[0][0].shape[0]):
            scores, boxes = [], []
            for logits, raw, centres, stride in levels:
                scores.append(torch.sigmoid(logits[b]))  # [L, K]
                boxes.append(self.decode(raw[b], centres, stride))
            scores, boxes = torch.cat(scores), torch.cat(boxes)
            loc, cls = torch.nonzero(scores > self.score_thresh, as_tuple=True)
            score = scores[loc, cls]
            top = torch.argsort(score, descending=True)[:2000]
            loc, cls, score = loc[top], cls[top], score[top]
            keep = batched_rotated_nms(boxes[loc].float(), score.float(), cls, self.nms_thresh)[: self.detections]
            results.append({"boxes": boxes[loc][keep], "scores": score[keep], "labels": cls[keep]})
        return results


def assign(levels, obb: torch.Tensor, ignore: torch.Tensor, radius: float = 1.5):
    """Locations -> object: ``(ignored [L] bool, matched [L] object index or -1)``.

    An object belongs to the level whose size range holds its longer side (``4s < side <= 8s``;
    first level from 0, last to infinity); its positives there are the locations inside its
    rotated box within ``radius`` strides of its centre, and always the one nearest the centre.
    Locations inside ignored objects (any level) are left out of the classification loss.
    """
    sizes = [lv[2].shape[0] for lv in levels]
    total = sum(sizes)
    matched = torch.full((total,), -1, dtype=torch.long, device=obb.device)
    ignored = torch.zeros(total, dtype=torch.bool, device=obb.device)
    if obb.shape[0] == 0:
        return ignored, matched
    best_area = torch.full((total,), float("inf"), device=obb.device)
    side = obb[:, 2:4].amax(1)
    start = 0
    for k, (_, _, centres, stride) in enumerate(levels):
        rel = centres[:, None, :] - obb[None, :, :2]  # [L, G, 2]
        cos, sin = torch.cos(obb[:, 4]), torch.sin(obb[:, 4])
        lx = rel[..., 0] * cos + rel[..., 1] * sin  # location in each object's own frame
        ly = -rel[..., 0] * sin + rel[..., 1] * cos
        inside = (lx.abs() <= obb[:, 2] / 2) & (ly.abs() <= obb[:, 3] / 2)
        near = rel.norm(dim=-1) <= radius * stride
        lower = 0 if k == 0 else 4 * stride
        upper = float("inf") if k == len(levels) - 1 else 8 * stride
        fits = (side > lower) & (side <= upper)  # [G]
        nearest = torch.zeros_like(inside)
        nearest[rel.norm(dim=-1).argmin(0), torch.arange(obb.shape[0], device=obb.device)] = True
        candidate = ((inside & near) | nearest) & fits & ~ignore  # [L, G]
        area = torch.where(candidate, (obb[:, 2] * obb[:, 3])[None].expand_as(lx), torch.full_like(lx, float("inf")))
        smallest, which = area.min(1)
        level = slice(start, start + centres.shape[0])
        better = smallest < best_area[level]
        matched[level] = torch.where(better, which, matched[level])
        best_area[level] = torch.minimum(best_area[level], smallest)
        ignored[level] |= (inside & ignore).any(1) & ~better
        start += centres.shape[0]
    return ignored, matched
