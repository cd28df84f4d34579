"""The ML library of the continuous-training platform.

Plain functions and small classes with explicit inputs and outputs. This package never imports
Airflow: it is usable from a notebook, a test or the ``ct`` CLI alike.
"""
