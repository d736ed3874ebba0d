"""The product registry: every family recognized from its naming convention, sidecars and tags."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from pipeline.ingest import read_scene_info
from pipeline.products import band_spec
from pipeline.products.identify import band_names_for, identify
from pipeline.products.tags import tag_facts
from pipeline.scene import SourceRef
from tests.pipeline.conftest import from_origin, write_tif
from tests.pipeline.products_data import MTL_TEMPLATE, write_band

UTC = timezone.utc

# (file or product path, sensor, platform, product, acquisition date)
CONVENTIONS = [
    ("LC08_L1TP_016037_20170813_20170825_01_T1_B4.TIF", "landsat8", "landsat-8", "L1TP", "2017-08-13"),
    ("LC09_L2SP_044034_20220101_20220110_02_T1_SR_B4.TIF", "landsat9", "landsat-9", "L2SP", "2022-01-01"),
    ("LE07_L1TP_044034_20000101_20170101_01_T1_B3.TIF", "landsat7", "landsat-7", "L1TP", "2000-01-01"),
    ("LT05_L1TP_044034_19900601_20170101_01_T1_B3.TIF", "landsat5", "landsat-5", "L1TP", "1990-06-01"),
    ("LT04_L1TP_044034_19880601_20170101_01_T1_B3.TIF", "landsat4", "landsat-4", "L1TP", "1988-06-01"),
    ("LM05_L1TP_044034_19900601_20170101_01_T2_B1.TIF", "landsat5mss", "landsat-5", "L1TP", "1990-06-01"),
    ("LC80200392015216LGN00_B4.TIF", "landsat8", "landsat-8", None, "2015-08-04"),
    ("S2A_MSIL1C_20170729T153811_N0205_R011_T19UDP_20170729T153811.SAFE/GRANULE/L1C_T19UDP/IMG_DATA/"
     "T19UDP_20170729T153811_B04.jp2", "sentinel2", "sentinel-2a", "MSIL1C", "2017-07-29"),
    ("T31UFQ_20230615T103629_B04_10m.jp2", "sentinel2", "sentinel-2", None, "2023-06-15"),
    ("sentinel-s2-l2a/tiles/19/U/DP/2017/7/29/0/R10m/B04.jp2", "sentinel2", "sentinel-2", "MSIL2A", "2017-07-29"),
    ("S2B_MSIL2A_20230715_T32TMS_alps.tif", "sentinel2", "sentinel-2b", "MSIL2A", "2023-07-15"),
    ("S1A_IW_GRDH_1SDV_20230101T054512_20230101T054537_046581_059512_1234.tif", "sentinel1", "sentinel-1a",
     "GRD", "2023-01-01"),
    ("S1B_IW_GRDH_1SDV_20200106T015322_20200106T015347_019690_025387_1BC3_RTC_VV.tif", "sentinel1",
     "sentinel-1b", "RTC", "2020-01-06"),
    ("S1A_IW_GRDH_1SDV_20230101T054512_20230101T054537_046581_059512_1234.SAFE/measurement/"
     "s1a-iw-grd-vh-20230101t054512-20230101t054537-046581-059512-002.tiff", "sentinel1", "sentinel-1a", "GRD",
     "2023-01-01"),
    ("CBERS_4_MUX_20171121_057_094_L2_BAND5.tif", "cbers4", "cbers-4", "MUX_L2", "2017-11-21"),
    ("CBERS_4A_WFI_20200101_200_139_L4_BAND13.tif", "cbers4a", "cbers-4a", "WFI_L4", "2020-01-01"),
    ("OR_ABI-L1b-RadF-M6C02_G16_s20190011200216_e20190011209524_c20190011209571.tif", "goes16", "goes-16",
     "ABI-L1b-RadF", "2019-01-01"),
    ("OR_ABI-L2-CMIPC-M6C13_G18_s20222001200216_e2022200.tif", "goes18", "goes-18", "ABI-L2-CMIPC", "2022-07-19"),
    ("m_3807537_ne_18_060_20181104.tif", "naip", "aircraft", "naip", "2018-11-04"),
    ("20180101_153026_0f3c_3B_AnalyticMS_SR.tif", "planetscope", "planetscope", "3B_AnalyticMS_SR", "2018-01-01"),
    ("17APR05171409-M1BS-058177374010_01_P001.TIF", "maxar", None, "M1BS", "2017-04-05"),
    ("WV03_20170405_ms.tif", "worldview3", "worldview-3", None, "2017-04-05"),
    ("10500100A1B2C300_20180301.tif", "geoeye1", "geoeye-1", None, "2018-03-01"),
    ("IMG_PHR1A_PMS_201506151034429_ORT_1234567101_R1C1.tif", "pleiades", "pleiades-1a", "PMS", "2015-06-15"),
    ("IMG_SPOT6_MS_201805101015123_ORT_SPOT6_20180510_R1C1.tif", "spot6", "spot-6", "MS", "2018-05-10"),
    ("GF2_PMS1_E113.6_N23.0_20160308_L1A0001458226-MSS1.tif", "gaofen2", "gaofen-2", "PMS1_L1A", "2016-03-08"),
    ("MOD09GA.A2017210.h11v05.006.2017212030419.tif", "modis", "terra", "MOD09GA", "2017-07-29"),
    ("MYD09GA.A2017210.h11v05.006.2017212030419.tif", "modis", "aqua", "MYD09GA", "2017-07-29"),
    ("DJI_0042.JPG", "drone", "dji", None, None),
]


def _day(text):
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC).date()


@pytest.mark.parametrize("path, sensor, platform, product, day", CONVENTIONS)
def test_names_identify_every_family(path, sensor, platform, product, day):
    found = identify("/data/" + path, None, local=False)
    assert (found.sensor, found.platform, found.product) == (sensor, platform, product)
    assert (found.acquired.date() if found.acquired else None) == _day(day)
    assert found.sensor_source == "name"


@pytest.mark.parametrize("path, sensor, platform, product, day", CONVENTIONS[::3])
def test_scene_files_named_by_convention_are_read_as_their_sensor(tmp_path, path, sensor, platform, product, day):
    """Synthetic pixels, real names, inside a folder called "aerial" (which must not count)."""
    target = tmp_path / "aerial" / path
    target.parent.mkdir(parents=True)
    if target.suffix.upper() == ".JPG":
        from PIL import Image

        Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(target)
    else:  # GDAL opens by content: a GeoTIFF named .jp2 stands in for the JPEG 2000 file
        write_tif(target, width=32, height=32, crs="EPSG:32631", transform=from_origin(500000, 5000000, 10, 10))
    info = read_scene_info(SourceRef(uri=str(target)))
    assert (info.sensor, info.platform, info.sensor_source) == (sensor, platform, "name")
    assert (info.acquired.date() if info.acquired else None) == _day(day)


@pytest.mark.parametrize("folder", ["aerial", "naip", "sentinel2", "landsat8", "drone", "Ortho"])
def test_no_sensor_from_a_folder_name(tmp_path, folder):
    path = tmp_path / folder / "scene_001.tif"
    path.parent.mkdir()
    write_tif(path, width=32, height=32, crs="EPSG:32631", transform=from_origin(500000, 5000000, 10, 10))
    info = read_scene_info(SourceRef(uri=str(path)))
    assert (info.sensor, info.sensor_source, info.platform) == ("unknown", None, None)


def test_sub_metre_gsd_without_a_platform_is_aerial(tmp_path):
    fine = write_tif(tmp_path / "ortho.tif", width=32, height=32, crs="EPSG:32631",
                     transform=from_origin(500000, 5000000, 0.3, 0.3))
    info = read_scene_info(SourceRef(uri=fine))
    assert (info.sensor, info.sensor_source) == ("aerial", "gsd")


def test_landsat_mtl_sidecar_names_a_product_whose_files_do_not(tmp_path):
    band = write_band(tmp_path / "l8_B4.tif", np.full((16, 16), 7, np.uint16), 30.0)
    (tmp_path / "l8_MTL.txt").write_text(MTL_TEMPLATE.format(
        scene_id="LC80200392015216LGN00", spacecraft="LANDSAT_8", date="2015-08-04"))
    info = read_scene_info(SourceRef(uri=str(band)))
    assert (info.sensor, info.platform, info.product, info.sensor_source) == ("landsat8", "landsat-8", "L1T", "sidecar")
    assert info.acquired == datetime(2015, 8, 4, 16, 19, 21, 791000, tzinfo=UTC)
    assert info.band_names == ("B4",)


def test_mtl_json_sidecar_of_collection_2(tmp_path):
    band = write_band(tmp_path / "x_SR_B2.TIF", np.full((16, 16), 7, np.uint16), 30.0)
    mtl = {"LANDSAT_METADATA_FILE": {
        "PRODUCT_CONTENTS": {"LANDSAT_PRODUCT_ID": "LC09_L2SP_044034_20220101_20220110_02_T1",
                             "PROCESSING_LEVEL": "L2SP"},
        "IMAGE_ATTRIBUTES": {"SPACECRAFT_ID": "LANDSAT_9", "SENSOR_ID": "OLI_TIRS",
                             "DATE_ACQUIRED": "2022-01-01", "SCENE_CENTER_TIME": "18:40:01.1Z"}}}
    (tmp_path / "x_MTL.json").write_text(json.dumps(mtl))
    found = identify(str(band), None, prefix="x_")
    assert (found.sensor, found.product, found.sensor_source) == ("landsat9", "L2SP", "sidecar")
    assert found.acquired == datetime(2022, 1, 1, 18, 40, 1, 100000, tzinfo=UTC)


def test_sentinel2_mtd_sentinel1_manifest_and_dimap_sidecars(tmp_path):
    s2 = tmp_path / "s2" / "GRANULE" / "IMG_DATA"
    s2.mkdir(parents=True)
    (tmp_path / "s2" / "MTD_MSIL1C.xml").write_text(
        "<n1:Level-1C_User_Product xmlns:n1='x'><PRODUCT_START_TIME>2017-07-29T15:38:11.026Z</PRODUCT_START_TIME>"
        "<PRODUCT_URI>S2B_MSIL1C_20170729T153811_N0205_R011_T19UDP_20170729T153811.SAFE</PRODUCT_URI>"
        "<PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE><SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME></n1:Level-1C_User_Product>")
    found = identify(str(s2 / "image.jp2"), None)
    assert (found.sensor, found.platform, found.product, found.sensor_source) == \
        ("sentinel2", "sentinel-2b", "MSIL1C", "sidecar")
    assert found.acquired == datetime(2017, 7, 29, 15, 38, 11, 26000, tzinfo=UTC)

    s1 = tmp_path / "s1.SAFE" / "measurement"
    s1.mkdir(parents=True)
    (tmp_path / "s1.SAFE" / "manifest.safe").write_text(
        "<xfdu:XFDU><safe:platform><safe:familyName>SENTINEL-1</safe:familyName><safe:number>A</safe:number>"
        "</safe:platform><safe:startTime>2023-01-01T05:45:12.123456</safe:startTime>"
        "<s1sarl1:productType>GRD</s1sarl1:productType></xfdu:XFDU>")
    found = identify(str(s1 / "iw-vv.tiff"), None)
    assert (found.sensor, found.platform, found.product, found.sensor_source) == \
        ("sentinel1", "sentinel-1a", "GRD", "sidecar")

    spot = tmp_path / "spot"
    spot.mkdir()
    (spot / "DIM_SPOT7_MS_201805101015123_ORT_1.XML").write_text(
        "<Dimap_Document><MISSION>SPOT</MISSION><MISSION_INDEX>7</MISSION_INDEX>"
        "<IMAGING_DATE>2018-05-10</IMAGING_DATE><IMAGING_TIME>10:15:12.3Z</IMAGING_TIME>"
        "<PROCESSING_LEVEL>ORTHO</PROCESSING_LEVEL></Dimap_Document>")
    found = identify(str(spot / "img.tif"), None)
    assert (found.sensor, found.platform, found.product, found.sensor_source) == ("spot7", "spot-7", "ORTHO", "sidecar")


def test_sentinel1_rtc_tags_as_in_the_real_cog():
    """Tags copied from the real Sentinel-1B RTC COG of realdata (rio-tiler fixture)."""
    tags = {"MISSION_ID": "S1B", "DATE": "2020-01-06", "ORBIT_DIRECTION": "ascending",
            "SCENE_1_METADATA": json.dumps({"mission_id": "S1B", "product_type": "RTC"}),
            "TIFFTAG_DATETIME": "2021:01:01 00:00:00"}
    found = identify("/x/cog_nodata_nan.tif", tags, local=False)
    assert (found.sensor, found.platform, found.product, found.sensor_source) == \
        ("sentinel1", "sentinel-1b", "RTC", "tags")
    assert found.acquired == datetime(2020, 1, 6, tzinfo=UTC)


def test_planet_surface_reflectance_description_and_drone_software():
    description = {"atmospheric_correction": {"aot_source": "mod09cma_nrt", "sr_version": "2.1"}}
    planet = tag_facts({"TIFFTAG_IMAGEDESCRIPTION": json.dumps(description)})
    assert (planet.sensor, planet.product) == ("planetscope", "analytic_sr")
    assert tag_facts({"TIFFTAG_SOFTWARE": "Pix4Dmapper 4.5.6"}).sensor == "drone"
    assert tag_facts({"TIFFTAG_SOFTWARE": "Agisoft Metashape"}).sensor == "drone"
    camera = tag_facts({"EXIF_Make": "DJI", "EXIF_Model": "FC6310", "EXIF_DateTimeOriginal": "2021:05:04 10:11:12"})
    assert (camera.sensor, camera.platform, camera.acquired) == ("drone", "dji", datetime(2021, 5, 4, 10, 11, 12, tzinfo=UTC))
    assert tag_facts({"EXIF_Model": "UltraCam Eagle"}).sensor == "aerial"
    assert tag_facts({"TIFFTAG_SOFTWARE": "GDAL 3.8"}) is None


def test_processing_time_comes_after_the_name_and_stac_before_all():
    tags = {"TIFFTAG_DATETIME": "2024:02:02 00:00:00"}
    by_name = identify("/d/S2A_MSIL2A_20230612_T31UDQ.tif", tags, local=False)
    assert by_name.acquired == datetime(2023, 6, 12, tzinfo=UTC)
    assert identify("/d/x.tif", tags, local=False).acquired == datetime(2024, 2, 2, tzinfo=UTC)
    stac = identify("/d/S2A_MSIL2A_20230612_T31UDQ.tif", tags, hint="landsat-9", local=False)
    assert (stac.sensor, stac.platform, stac.sensor_source) == ("landsat9", "landsat-9", "stac")


def test_band_names_from_descriptions_and_tokens():
    assert band_names_for("landsat8", ("2", "3", "4", "5")) == ("B2", "B3", "B4", "B5")
    assert band_names_for("sentinel1", ("Gamma0_VV",)) == ("VV",)
    assert band_names_for("sentinel2", (None,), "B8A") == ("B8A",)
    assert band_names_for("sentinel2", (None, None)) is None
    assert band_names_for(None, ("a",)) is None


def test_band_spec_is_the_wavelength_lookup():
    assert band_spec("sentinel2", "B04") == (665, 10)
    assert band_spec("landsat8", "B5") == (865, 30)
    assert band_spec("landsat8", "5") == (865, 30)
    assert band_spec("sentinel1", "VH")[0] == pytest.approx(5.5466e7, rel=1e-3)
    assert band_spec("landsat8", "BQA") is None  # QA is not an image band
    assert band_spec("unknown", "b1") is None


REALDATA = "/work/shared/realdata"
REAL_FILES = [  # (file under realdata, sensor, platform, product, evidence, date)
    ("aerial/riotiler-hist_S2_L1C_T19UDP_20170729_preview.jpg", "sentinel2", "sentinel-2", "MSIL1C", "name",
     "2017-07-29"),
    ("geotiff/riotiler-hist_S2_L2A_T19UDP_20170729_TCI.jp2", "sentinel2", "sentinel-2", "MSIL2A", "name", "2017-07-29"),
    ("geotiff/riotiler_S1B_RTC_gamma0_VV_20200106.tif", "sentinel1", "sentinel-1b", "RTC", "tags", "2020-01-06"),
    ("geotiff/sattest_L8_LC80200392015216LGN00_B2-B5_stack.tif", "landsat8", "landsat-8", None, "name", "2015-08-04"),
    ("geotiff/sattest_S2_T18SVG_20160112_20m_6band_stack.tif", "sentinel2", "sentinel-2", None, "name", "2016-01-12"),
    ("geotiff/rasterio_cogeo.tif", "aerial", None, None, "gsd", None),
    ("geotiff/rasterio_RGB.byte.tif", "unknown", None, None, None, None),  # nothing says Landsat 7
]


@pytest.mark.skipif(not __import__("os").path.isdir(REALDATA), reason="real data not available")
@pytest.mark.parametrize("name, sensor, platform, product, source, day", REAL_FILES)
def test_real_files(name, sensor, platform, product, source, day):
    info = read_scene_info(SourceRef(uri=f"{REALDATA}/{name}"), checksum=False)
    assert (info.sensor, info.platform, info.product, info.sensor_source) == (sensor, platform, product, source)
    assert (info.acquired.date() if info.acquired else None) == _day(day)


def test_rules_override_the_registry_and_catch_alls_only_fill_gaps(tmp_path):
    from pipeline.sensors import rules_from_dicts

    named = write_tif(tmp_path / "S2A_MSIL2A_20230612_T31UDQ.tif", width=32, height=32, crs="EPSG:32631",
                      transform=from_origin(500000, 5000000, 10, 10))
    plain = write_tif(tmp_path / "plain.tif", width=32, height=32, crs="EPSG:32631",
                      transform=from_origin(500000, 5000000, 10, 10))
    rules = rules_from_dicts([{"name": "my-s2", "pattern": "*_T31UDQ*"}, {"name": "rest"}])
    glob_rule = read_scene_info(SourceRef(uri=named), rules)
    assert (glob_rule.sensor, glob_rule.sensor_source, glob_rule.platform) == ("my-s2", "rule", None)
    assert glob_rule.acquired.date().isoformat() == "2023-06-12"  # the date still comes from the evidence
    catch_all = rules_from_dicts([{"name": "rest"}])
    assert read_scene_info(SourceRef(uri=named), catch_all).sensor == "sentinel2"
    assert (read_scene_info(SourceRef(uri=plain), catch_all).sensor_source,
            read_scene_info(SourceRef(uri=plain), catch_all).sensor) == ("rule", "rest")


def test_maxar_imd_planet_json_gaofen_xml_and_s2_tileinfo_sidecars(tmp_path):
    (tmp_path / "17APR05171409-M1BS-058177374010_01_P001.IMD").write_text(
        'version = "28.3";\nBEGIN_GROUP = IMAGE_1\n\tsatId = "WV03";\n\tfirstLineTime = 2017-04-05T17:14:09.123456Z;\n'
        "END_GROUP = IMAGE_1\n")
    found = identify(str(tmp_path / "17APR05171409-M1BS-058177374010_01_P001.TIF"), None)
    assert (found.sensor, found.platform, found.sensor_source) == ("worldview3", "worldview-3", "sidecar")
    assert found.acquired == datetime(2017, 4, 5, 17, 14, 9, 123456, tzinfo=UTC)

    (tmp_path / "20180101_153026_0f3c_metadata.json").write_text(json.dumps(
        {"id": "20180101_153026_0f3c", "properties": {"acquired": "2018-01-01T15:30:26.5Z", "instrument": "PS2",
                                                      "item_type": "PSScene4Band"}}))
    found = identify(str(tmp_path / "20180101_153026_0f3c_3B_AnalyticMS_SR.tif"), None)
    assert (found.sensor, found.product, found.sensor_source) == ("planetscope", "PSScene4Band", "sidecar")

    (tmp_path / "GF2_PMS1_E113.6_N23.0_20160308_L1A0001458226-MSS1.xml").write_text(
        "<ProductMetaData><SatelliteID>GF2</SatelliteID><StartTime>2016-03-08 03:12:44</StartTime>"
        "<ProductLevel>LEVEL1A</ProductLevel></ProductMetaData>")
    found = identify(str(tmp_path / "GF2_PMS1_E113.6_N23.0_20160308_L1A0001458226-MSS1.tiff"), None)
    assert (found.sensor, found.product, found.sensor_source) == ("gaofen2", "LEVEL1A", "sidecar")
    assert found.acquired == datetime(2016, 3, 8, 3, 12, 44, tzinfo=UTC)

    tile = tmp_path / "tile"
    tile.mkdir()
    (tile / "tileInfo.json").write_text(json.dumps(
        {"productName": "S2A_MSIL1C_20170729T153811_N0205_R011_T19UDP_20170729T153811",
         "timestamp": "2017-07-29T15:38:11.026Z", "utmZone": 19}))
    found = identify(str(tile / "B04.jp2"), None)
    assert (found.sensor, found.platform, found.product, found.sensor_source) == \
        ("sentinel2", "sentinel-2a", "MSIL1C", "sidecar")
