"""Data sets: the embedded XOR-format default and converters to Tevatron / Pyserini formats."""
