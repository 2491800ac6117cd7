"""Bilingual word lists: CLDR names, MUSE and dictd files (``lexicon``), and FreeDict's
English->X dictionaries wherever the plugin runs (``freedict``: Debian's packages, else the
pinned release fetched once into the cache).  Used by the dictionary generator, code-switching
and the query-translation baseline."""
