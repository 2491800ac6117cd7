"""Tevatron-style command-line drivers: ``python -m xqg_tevatron.driver.{train,encode}``."""
