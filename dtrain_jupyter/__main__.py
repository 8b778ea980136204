"""`python -m dtrain_jupyter ARGS` is the `dtrain` command."""

from .cli import main

if __name__ == "__main__":
    main()
