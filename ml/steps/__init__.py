"""Entry points that DAG tasks call, one function per task.

Each takes explicit inputs (paths, contract, ids from earlier tasks) and returns a small JSON-able dict
that fits in XCom. They write their outcome to the ledger so the CLI and the demo can follow along.
"""
