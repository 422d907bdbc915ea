"""`python -m reid_lightning.reporting <sweep folder>`: the result tables of a multirun folder."""

from reid_lightning.reporting.tables import main

main()
