"""`python -m reid_lightning.data.generator --root ...`: the reid-synthetic command."""

from reid_lightning.data.generator.cli import main

main()
