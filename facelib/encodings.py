"""The former name of :mod:`facelib.encoding_cache`, kept so that ``from facelib import encodings`` still works."""

from facelib.encoding_cache import METHODS, cache_path, chip_of, encode_files

__all__ = ["METHODS", "cache_path", "chip_of", "encode_files"]
