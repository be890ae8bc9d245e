"""Code that runs inside the AppWorld venv: the task generator and the world worker.

These modules import ``appworld`` only inside functions and import each other as
top-level modules (the worker folder is put on ``sys.path``), because the AppWorld
venv has no anchorgym installed.
"""
