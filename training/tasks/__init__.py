"""Downstream tasks on a pretrained encoder (segmentation, change, detection); each task adds its head, targets and metric.

``loop`` is the fine-tuning loop the tasks share (AdamW, warmup + cosine, clipping, JSONL
metrics); ``dense`` runs the dense tasks (``segmentation``, ``change``: their metric and
headline figures) over ``dense_data`` (image + ``mask.png`` [+ ``b.<fmt>``] samples),
``dense_models`` (encoder + FPN decoder) and ``dense_metrics`` (one confusion matrix per split).
``detection`` fine-tunes box detectors (``detection_models``: FCOS / rotated FCOS on a feature
pyramid; ``boxes``: rotated-box ops; ``detection_metrics``: DOTA / COCO AP).
"""
