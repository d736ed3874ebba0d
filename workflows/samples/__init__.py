"""Sample data the project generates for ``make demo`` and tests.

``write_sample_scenes`` writes raw scenes covering every input case the corpus builder handles
(sensors, CRSs, rotated footprints, nodata collars, overlaps, clusters, plain JPEGs, a corrupt
and an empty file); ``write_labeled_set`` writes a folder-per-class set whose classes differ by
texture and structure rather than colour. Textures are procedural (``terrain``), composed into
physical fields and simulated sensors by ``render``.
"""

from workflows.samples.labeled import DEFAULT_CLASSES, write_labeled_set
from workflows.samples.scenes import SCENES, SceneSpec, write_sample_scenes

__all__ = ["DEFAULT_CLASSES", "SCENES", "SceneSpec", "write_labeled_set", "write_sample_scenes"]
