"""Reporting: the records a run leaves (records), the table it prints (console), and the result tables,
CSV and plots made from a folder of runs (tables; `python -m reid_lightning.reporting <folder>`)."""
