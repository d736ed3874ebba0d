"""Detection annotations: the four input formats, and objects clipped to tiles the DOTA way."""

import json
import math

import geopandas
import pytest
import shapely

from catalogs.errors import InputError
from pipeline.object_tiles import TileObjects, row_columns
from pipeline.objects import Annotations, SceneObject, read_coco, read_dota, read_voc, read_vector

DOTA = """imagesource:GoogleEarth
gsd:0.146343590398
10 10 30 10 30 20 10 20 plane 0
100.5 50 120 50 120 60 100.5 60 small-vehicle 1
"""


def test_dota_label_txt():
    objects = read_dota(DOTA)
    assert [o.cls for o in objects] == ["plane", "small-vehicle"]
    assert objects[0].ring == ((10, 10), (30, 10), (30, 20), (10, 20)) and not objects[0].difficult
    assert objects[1].difficult
    with pytest.raises(InputError, match="P1.txt:3"):
        read_dota("imagesource:x\ngsd:1\n1 2 3 plane\n", "P1.txt")


def test_voc_bndbox_and_dior_r_robndbox():
    xml = """<annotation><object><name>airplane</name><difficult>0</difficult>
      <bndbox><xmin>5</xmin><ymin>6</ymin><xmax>25</xmax><ymax>16</ymax></bndbox></object>
      <object><name>ship</name><difficult>1</difficult><robndbox>
      <x_left_top>1</x_left_top><y_left_top>2</y_left_top><x_right_top>11</x_right_top><y_right_top>2</y_right_top>
      <x_right_bottom>11</x_right_bottom><y_right_bottom>7</y_right_bottom>
      <x_left_bottom>1</x_left_bottom><y_left_bottom>7</y_left_bottom></robndbox><angle>0</angle></object>
      <object><name>car</name><robndbox><cx>50</cx><cy>50</cy><w>10</w><h>4</h><angle>1.5707963</angle></robndbox>
      </object></annotation>"""
    a, b, c = read_voc(xml)
    assert a.cls == "airplane" and a.ring == ((5, 6), (25, 6), (25, 16), (5, 16))
    assert b.cls == "ship" and b.difficult and b.ring[2] == (11, 7)
    assert shapely.Polygon(c.ring).bounds == pytest.approx((48, 45, 52, 55), abs=1e-5)


def test_coco_boxes_and_polygons(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a/img1.png"}, {"id": 2, "file_name": "img2.png"}],
        "categories": [{"id": 7, "name": "tank"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 5]},
                        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 1, 1],
                         "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]]}]}))
    objects = read_coco(str(path))
    assert objects["img2.png"] == []
    assert objects["img1.png"][0].ring == ((1, 2), (11, 2), (11, 7), (1, 7))
    assert objects["img1.png"][1].ring == ((0, 0), (4, 0), (4, 4), (0, 4))
    assert Annotations(str(path)).has("/x/img1.png") and not Annotations(str(path)).has("/x/img3.png")


def test_vector_polygons_go_through_the_scene_transform(tmp_path):
    path = tmp_path / "objects.geojson"
    frame = geopandas.GeoDataFrame({"class": ["pond"]}, geometry=[shapely.box(500010, 4999980, 500030, 4999990)],
                                   crs="EPSG:32631")
    frame.to_file(path)
    transform = (0.5, 0.0, 500000.0, 0.0, -0.5, 5000000.0)  # 0.5 m pixels, origin top-left
    (obj,) = read_vector(str(path), "EPSG:32631", transform)
    assert obj.cls == "pond"
    assert shapely.Polygon(obj.ring).bounds == pytest.approx((20, 20, 60, 40))


def _box(cls, x1, y1, x2, y2, difficult=False):
    return SceneObject(cls, ((x1, y1), (x2, y1), (x2, y2), (x1, y2)), difficult)


def test_clipping_keeps_drops_and_truncates():
    objects = TileObjects([
        _box("whole", 10, 10, 30, 20),
        _box("mostly", 84, 40, 104, 50),  # 16 of 20 px wide inside: 0.8 >= 0.7 -> kept, refitted
        _box("partly", 94, 60, 114, 70),  # 0.3 inside -> truncated
        _box("outside", 120, 10, 140, 20),  # dropped
        _box("touching", 100, 80, 110, 90),  # shares the tile's edge only -> dropped
        _box("hard", 50, 50, 60, 60, difficult=True),
    ])
    found = {o["class"]: o for o in objects.for_window(0, 0, 100, 100, 100, 100)}
    assert sorted(found) == ["hard", "mostly", "partly", "whole"]
    assert found["whole"]["hbb"] == [10, 10, 30, 20] and not found["whole"]["truncated"]
    assert found["whole"]["obb"][:4] == [20, 15, 20, 10] or found["whole"]["obb"][:4] == [20, 15, 10, 20]
    assert found["mostly"]["hbb"] == [84, 40, 100, 50] and not found["mostly"]["truncated"]
    assert sorted(found["mostly"]["obb"][2:4]) == [10, 16]  # re-fitted to the clipped part
    assert found["partly"]["truncated"] and found["partly"]["hbb"] == [94, 60, 100, 70]
    assert found["hard"]["difficult"] and not found["hard"]["truncated"]
    columns = row_columns(list(found.values()))
    assert columns["classes"] == "hard,mostly,partly,whole"
    assert json.loads(columns["object_counts"]) == {"hard": 1, "mostly": 1, "partly": 1, "whole": 1}


def test_clipped_objects_land_in_sample_pixels():
    """A window at (100, 0) of 200 source px resampled to a 100 px sample: offset, then half scale."""
    rotated = SceneObject("car", tuple(map(tuple, [[150, 40], [170, 60], [160, 70], [140, 50]])))
    (obj,) = TileObjects([rotated], min_inside=0.5).for_window(100, 0, 200, 200, 100, 100)
    cx, cy, w, h, angle = obj["obb"]
    assert (cx, cy) == pytest.approx((27.5, 27.5))
    assert sorted([w, h]) == pytest.approx([math.hypot(10, 10) / 2, math.hypot(20, 20) / 2], abs=0.02)
    assert abs(abs(angle) - math.pi / 4) < 1e-3
    assert obj["hbb"] == [20, 20, 35, 35]


def test_min_inside_is_configurable():
    objects = [_box("x", 84, 40, 104, 50)]  # 0.8 inside
    assert not TileObjects(objects, 0.7).for_window(0, 0, 100, 100, 100, 100)[0]["truncated"]
    assert TileObjects(objects, 0.9).for_window(0, 0, 100, 100, 100, 100)[0]["truncated"]
