"""The ``antrean`` command line: run, worker, loop, roster, schedule, calendar, admin."""
