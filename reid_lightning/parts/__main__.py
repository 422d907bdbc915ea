"""`python -m reid_lightning.parts ...` runs the `reid-parts` command line (cli.py)."""

from reid_lightning.parts.cli import main

if __name__ == "__main__":
    main()
