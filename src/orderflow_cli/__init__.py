"""The `orderflow` command: run, drive and inspect the pipeline locally or on AWS."""
