"""xQG: augment passage vectors with embeddings of queries generated for them (index time only)."""
from xqg_tevatron.languages import XOR_TYDI_LANGUAGES as LANGUAGES
from xqg_tevatron.xqg.fusion import AGGREGATIONS, fuse
from xqg_tevatron.xqg.generated import select_queries

__all__ = ["AGGREGATIONS", "LANGUAGES", "fuse", "select_queries"]
