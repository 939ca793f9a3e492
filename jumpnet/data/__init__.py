"""Data: where images come from (sources), how splits are cut (splits), how batches are served (loader)."""
from jumpnet.data.arrays import Arrays, DataError
from jumpnet.data.sources import load_arrays
from jumpnet.data.splits import Splits, make_splits

__all__ = ["Arrays", "DataError", "Splits", "load_arrays", "make_splits"]
