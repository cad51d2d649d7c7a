"""``python -m latentlab``: the same entry point as the ``latentlab`` command."""

import multiprocessing

if __name__ == "__main__":
    # First thing: a frozen app re-executes itself for worker processes.
    multiprocessing.freeze_support()
    from latentlab.cli import main

    raise SystemExit(main())
