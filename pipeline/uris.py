"""URI handling: how a user-facing URI becomes a path GDAL can open, and when it is remote.

Users write ``s3://bucket/key`` or ``https://host/x.tif``; GDAL wants ``/vsis3/bucket/key`` or
``/vsicurl/https://host/x.tif``. Keeping the mapping here means ingest and tiling open exactly
the same thing for the same URI.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from catalogs.store import scheme_of

#: URI scheme -> GDAL virtual file system prefix (the scheme part is replaced).
_VSI_PREFIXES = {
    "s3": "/vsis3/",
    "gs": "/vsigs/",
    "gcs": "/vsigs/",
    "az": "/vsiaz/",
    "azure": "/vsiaz/",
    "abfs": "/vsiadls/",
    "oss": "/vsioss/",
    "swift": "/vsiswift/",
}
_CURL_SCHEMES = ("http", "https", "ftp")


def is_remote(uri: str) -> bool:
    """True for anything not on the local file system (URLs and remote /vsi* paths)."""
    if uri.startswith("/vsi"):
        prefix = uri.split("/", 2)[1]
        return prefix not in ("vsimem", "vsizip", "vsitar", "vsigzip", "vsisubfile")
    return scheme_of(uri) not in ("", "file")


def local_path(uri: str) -> str:
    """The file-system path of a local URI (``file://`` stripped and percent-decoded)."""
    if scheme_of(uri) == "file":
        return unquote(urlsplit(uri).path)
    return uri


def to_gdal_path(uri: str) -> str:
    """Map a URI onto the path GDAL opens: cloud schemes to /vsi*, http(s) through /vsicurl/.

    Local paths and paths that are already /vsi* are returned unchanged (``file://`` is
    stripped), so the function is idempotent.
    """
    if uri.startswith("/vsi"):
        return uri
    scheme = scheme_of(uri)
    if scheme == "":
        return uri
    if scheme == "file":
        return local_path(uri)
    if scheme in _CURL_SCHEMES:
        return "/vsicurl/" + uri
    if scheme in _VSI_PREFIXES:
        return _VSI_PREFIXES[scheme] + uri.split("://", 1)[1]
    raise ValueError(f"{uri}: unsupported URI scheme {scheme!r}")


def normalize_uri(uri: str) -> str:
    """A canonical spelling used to de-duplicate inputs listed twice.

    Local paths become absolute real paths (symlinks resolved, so one file reached two ways is
    one input); URLs get a lower-case scheme and host, the rest is kept as written.
    """
    scheme = scheme_of(uri)
    if scheme in ("", "file") and not uri.startswith("/vsi"):
        return os.path.realpath(os.path.expanduser(local_path(uri)))
    if scheme:
        rest = uri.split("://", 1)[1]
        host, sep, path = rest.partition("/")
        return f"{scheme}://{host.lower()}{sep}{path}"
    return uri


def suffix_of(uri: str) -> str:
    """The lower-case file suffix of a URI or path, ignoring any query string (".tif")."""
    path = urlsplit(uri).path if scheme_of(uri) else uri
    name = path.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[1].lower() if "." in name else ""
