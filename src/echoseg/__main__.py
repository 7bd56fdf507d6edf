"""`python -m echoseg` (and `torchrun -m echoseg`) run the command-line interface."""

from echoseg.cli import main

if __name__ == "__main__":
    main()
