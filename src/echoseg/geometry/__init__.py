"""Geometry of LV masks: the mask rule, the method of disks, volumes and EF. numpy/scipy/OpenCV only.

The bottom layer: data readers, the synthetic generator, inference and evaluation all import it,
and it imports nothing else of echoseg.
"""
