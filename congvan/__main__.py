"""``python -m congvan`` and the ``congvan`` script: the command line, in a process tuned for a short life."""

from congvan import gc_tuning


def main() -> None:
    # Before the command's imports: they are most of what a command that runs no flow does (congvan/gc_tuning.py).
    gc_tuning.tune()
    gc_tuning.freeze_at_exit()
    from congvan.cli import main as run

    run()


if __name__ == "__main__":
    main()
