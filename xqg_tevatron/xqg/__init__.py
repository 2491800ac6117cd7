"""xQG: augment passage vectors with embeddings of queries generated for them (index time only).

``fusion``: the one fusion rule; ``components``: what a unit stores and the re-fuse from it;
``generated``: reading generated-query files; ``fuse_files``: the streaming fuser of ``.npy`` files.
"""
