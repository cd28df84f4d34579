"""The ``ct`` command line: a thin layer over the ML library (``ml``) and Airflow."""
