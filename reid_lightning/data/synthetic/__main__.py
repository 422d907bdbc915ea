"""`python -m reid_lightning.data.synthetic --root ...`: the reid-synthetic command."""

from reid_lightning.data.synthetic.cli import main

main()
