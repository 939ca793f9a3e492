"""One run and its folder: the config checked once into a run spec, the pipeline from data to test, the
run record, the folder's lock and earlier attempts, the device it claims, tracking and provenance."""
