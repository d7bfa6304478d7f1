"""Data: dataset specs, mask readers, datasets, joint transforms and class statistics."""

from segwise.data.readers import ClassTable as ClassTable
from segwise.data.readers import read_class_table as read_class_table
from segwise.data.readers import read_mask as read_mask
from segwise.data.readers import rgb_to_index as rgb_to_index

__all__ = ["ClassTable", "read_class_table", "read_mask", "rgb_to_index"]
