"""Known-corpus reference sketches: build (``distillguard corpus index``), load, match."""

from distillguard.corpus.index import CorpusIndex, Matches, build_index, load_index
from distillguard.corpus.read import corpus_files, iter_prompts

__all__ = ["CorpusIndex", "Matches", "build_index", "corpus_files", "iter_prompts", "load_index"]
