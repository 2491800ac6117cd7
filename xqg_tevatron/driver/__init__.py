"""Tevatron-style names of the stages' commands, kept for Tevatron users:
``python -m xqg_tevatron.driver.{train,encode,merge}`` run ``xqg_tevatron.training``,
``xqg_tevatron.indexing`` and ``xqg_tevatron.indexing.merge_cli`` unchanged."""
