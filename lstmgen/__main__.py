"""``python -m lstmgen`` (and ``torchrun ... -m lstmgen train ...``): the command line."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="lstmgen")
