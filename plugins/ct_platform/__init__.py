"""Airflow-side pieces of the platform: assets, the landing sensor and its trigger, DAG helpers.

This lives in ``plugins/`` (on ``sys.path`` for every Airflow process) because the triggerer does not load
DAG folders, so a trigger defined next to the DAGs could never run there.
"""
