"""The study: lexical-overlap ratio (code-switched training) vs effectiveness vs inference latency.

    python -m xqg_tevatron.study --config configs/study_small.yaml
"""
