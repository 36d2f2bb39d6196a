"""``python -m congvan`` and the ``congvan`` script: the command line, in a process tuned for a short life."""

import atexit
import gc


def main() -> None:
    # A command loads some 500 modules, works briefly and ends. With the default thresholds the cyclic collector
    # walks the young objects every 700 allocations while they load, and at exit walks every object once more: a
    # fifth of `status` or `validate` (bench/bench_startup.py). So: collect the young generation every 20,000
    # allocations (a long flow run still collects its cycles), and at exit freeze what is left instead of
    # collecting it (the atexit handlers still run; the memory goes back to the system with the process).
    gc.set_threshold(20_000, 10, 10)
    atexit.register(gc.freeze)
    from congvan.cli import main as run

    run()


if __name__ == "__main__":
    main()
